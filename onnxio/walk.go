package onnxio

import (
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// TensorSite says where a tensor sits in a model, for error messages and
// reports: "initializer conv1.weight", "node Conv_3 (Constant) attribute value"
// and the like, prefixed with the graph path for tensors inside subgraphs.
// Names longer than maxSiteName bytes are shortened and paths deeper than
// pathHead+1 graphs elide their middle, so that the cost of a site does not
// grow with what a hostile file repeats.
type TensorSite struct {
	Graph string // graph path: "main", "main/If_2.then_branch", "function f"
	Where string // "initializer X", "node N attribute A", "sparse initializer X"
}

// String returns "where" for the main graph and "where in graph G" otherwise.
func (s TensorSite) String() string {
	if s.Graph == "main" || s.Graph == "" {
		return s.Where
	}
	return s.Where + " in graph " + s.Graph
}

// WalkTensors calls fn for every dense tensor stored in the model: graph
// initializers, the values and indices of sparse initializers, tensor
// attributes of nodes, in every subgraph, function and training graph.
// Walking stops at the first error fn returns.
func WalkTensors(m *onnxpb.ModelProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	if g := m.GetGraph(); g != nil {
		if err := walkGraph(newPath(nil, "main"), g, fn); err != nil {
			return err
		}
	}
	for i, ti := range m.GetTrainingInfo() {
		name := "training_info[" + strconv.Itoa(i) + "]"
		if g := ti.GetInitialization(); g != nil {
			if err := walkGraph(newPath(nil, name+".initialization"), g, fn); err != nil {
				return err
			}
		}
		if g := ti.GetAlgorithm(); g != nil {
			if err := walkGraph(newPath(nil, name+".algorithm"), g, fn); err != nil {
				return err
			}
		}
	}
	for _, f := range m.GetFunctions() {
		path := newPath(nil, "function "+ShortName(f.GetDomain())+":"+ShortName(f.GetName()))
		for _, n := range f.GetNode() {
			if err := walkNode(path, n, fn); err != nil {
				return err
			}
		}
		for _, a := range f.GetAttributeProto() {
			where := func() string { return "function attribute " + ShortName(a.GetName()) }
			if err := walkAttr(path, where, a, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func walkGraph(path *graphPath, g *onnxpb.GraphProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	for _, t := range g.GetInitializer() {
		if err := fn(path.site("initializer "+siteQuote(t.GetName())), t); err != nil {
			return err
		}
	}
	for _, st := range g.GetSparseInitializer() {
		name := siteQuote(st.GetValues().GetName())
		if v := st.GetValues(); v != nil {
			if err := fn(path.site("sparse initializer "+name+" values"), v); err != nil {
				return err
			}
		}
		if ix := st.GetIndices(); ix != nil {
			if err := fn(path.site("sparse initializer "+name+" indices"), ix); err != nil {
				return err
			}
		}
	}
	for _, n := range g.GetNode() {
		if err := walkNode(path, n, fn); err != nil {
			return err
		}
	}
	return nil
}

// NodeLabel names a node for messages: its name if it has one, otherwise
// its op type and first output.
func NodeLabel(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return quote(n.GetName()) + " (" + n.GetOpType() + ")"
	}
	out := ""
	if len(n.GetOutput()) > 0 {
		out = " -> " + quote(n.GetOutput()[0])
	}
	return n.GetOpType() + out
}

// siteLabel is NodeLabel with every name shortened to maxSiteName bytes.
func siteLabel(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return siteQuote(n.GetName()) + " (" + ShortName(n.GetOpType()) + ")"
	}
	out := ""
	if len(n.GetOutput()) > 0 {
		out = " -> " + siteQuote(n.GetOutput()[0])
	}
	return ShortName(n.GetOpType()) + out
}

func walkNode(path *graphPath, n *onnxpb.NodeProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	label := "" // built once, and only if an attribute holds a tensor
	for _, a := range n.GetAttribute() {
		where := func() string {
			if label == "" {
				label = "node " + siteLabel(n) + " attribute "
			}
			return label + ShortName(a.GetName())
		}
		if err := walkAttr(path, where, a, fn); err != nil {
			return err
		}
		for _, sg := range attrGraphs(a) {
			sub := newPath(path, ShortName(nodeShort(n))+"."+ShortName(a.GetName()))
			if err := walkGraph(sub, sg, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func nodeShort(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return n.GetOpType()
}

func attrGraphs(a *onnxpb.AttributeProto) []*onnxpb.GraphProto {
	var gs []*onnxpb.GraphProto
	if a.GetG() != nil {
		gs = append(gs, a.GetG())
	}
	return append(gs, a.GetGraphs()...)
}

func walkAttr(path *graphPath, where func() string, a *onnxpb.AttributeProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	if t := a.GetT(); t != nil {
		if err := fn(path.site(where()), t); err != nil {
			return err
		}
	}
	for i, t := range a.GetTensors() {
		if err := fn(path.site(where()+"["+strconv.Itoa(i)+"]"), t); err != nil {
			return err
		}
	}
	sparse := a.GetSparseTensors()
	if a.GetSparseTensor() != nil {
		sparse = append([]*onnxpb.SparseTensorProto{a.GetSparseTensor()}, sparse...)
	}
	for _, st := range sparse {
		if v := st.GetValues(); v != nil {
			if err := fn(path.site(where()+" sparse values"), v); err != nil {
				return err
			}
		}
		if ix := st.GetIndices(); ix != nil {
			if err := fn(path.site(where()+" sparse indices"), ix); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxSiteName is the longest name a TensorSite repeats in full.
const maxSiteName = 200

// pathHead is the number of graphs a path names before eliding its middle.
const pathHead = 3

// graphPath is the path of a graph in the model, kept as a chain so that
// walking a deeply nested model does not build a string per level.
type graphPath struct {
	name  string // this graph's part: "main", "If_2.then_branch"
	depth int    // 1 for a top-level graph
	head  string // the first min(depth, pathHead) parts, joined by "/"
	str   string // String(), once asked for
}

func newPath(parent *graphPath, name string) *graphPath {
	p := &graphPath{name: name, depth: 1, head: name}
	if parent != nil {
		p.depth = parent.depth + 1
		p.head = parent.head
		if p.depth <= pathHead {
			p.head += "/" + name
		}
	}
	return p
}

func (p *graphPath) String() string {
	switch {
	case p.str != "":
	case p.depth <= pathHead:
		p.str = p.head
	case p.depth == pathHead+1:
		p.str = p.head + "/" + p.name
	default:
		p.str = p.head + "/(" + strconv.Itoa(p.depth-pathHead-1) + " more)/" + p.name
	}
	return p.str
}

func (p *graphPath) site(where string) TensorSite {
	return TensorSite{Graph: p.String(), Where: where}
}

// ShortName returns s, or its first 200 bytes and "..." when s is longer:
// a name fit to repeat in messages about a file whose names may be huge.
func ShortName(s string) string {
	if len(s) <= maxSiteName {
		return s
	}
	return strings.ToValidUTF8(s[:maxSiteName], "") + "..."
}

func siteQuote(s string) string { return quote(ShortName(s)) }
