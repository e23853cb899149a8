package onnxio

import (
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// TensorSite says where a tensor sits in a model, for error messages and
// reports: "initializer conv1.weight", "node Conv_3 (Constant) attribute value"
// and the like, prefixed with the graph path for tensors inside subgraphs.
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
		if err := walkGraph("main", g, fn); err != nil {
			return err
		}
	}
	for i, ti := range m.GetTrainingInfo() {
		name := "training_info[" + itoaInt(i) + "]"
		if g := ti.GetInitialization(); g != nil {
			if err := walkGraph(name+".initialization", g, fn); err != nil {
				return err
			}
		}
		if g := ti.GetAlgorithm(); g != nil {
			if err := walkGraph(name+".algorithm", g, fn); err != nil {
				return err
			}
		}
	}
	for _, f := range m.GetFunctions() {
		path := "function " + f.GetDomain() + ":" + f.GetName()
		for _, n := range f.GetNode() {
			if err := walkNode(path, n, fn); err != nil {
				return err
			}
		}
		for _, a := range f.GetAttributeProto() {
			if err := walkAttr(path, "function attribute "+a.GetName(), a, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func walkGraph(path string, g *onnxpb.GraphProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	for _, t := range g.GetInitializer() {
		if err := fn(TensorSite{path, "initializer " + quote(t.GetName())}, t); err != nil {
			return err
		}
	}
	for _, st := range g.GetSparseInitializer() {
		name := st.GetValues().GetName()
		if v := st.GetValues(); v != nil {
			if err := fn(TensorSite{path, "sparse initializer " + quote(name) + " values"}, v); err != nil {
				return err
			}
		}
		if ix := st.GetIndices(); ix != nil {
			if err := fn(TensorSite{path, "sparse initializer " + quote(name) + " indices"}, ix); err != nil {
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

func walkNode(path string, n *onnxpb.NodeProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	for _, a := range n.GetAttribute() {
		if err := walkAttr(path, "node "+NodeLabel(n)+" attribute "+a.GetName(), a, fn); err != nil {
			return err
		}
		for _, sg := range attrGraphs(a) {
			sub := path + "/" + nodeShort(n) + "." + a.GetName()
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

func walkAttr(path, where string, a *onnxpb.AttributeProto, fn func(TensorSite, *onnxpb.TensorProto) error) error {
	if t := a.GetT(); t != nil {
		if err := fn(TensorSite{path, where}, t); err != nil {
			return err
		}
	}
	for i, t := range a.GetTensors() {
		if err := fn(TensorSite{path, where + "[" + itoaInt(i) + "]"}, t); err != nil {
			return err
		}
	}
	sparse := a.GetSparseTensors()
	if a.GetSparseTensor() != nil {
		sparse = append([]*onnxpb.SparseTensorProto{a.GetSparseTensor()}, sparse...)
	}
	for _, st := range sparse {
		if v := st.GetValues(); v != nil {
			if err := fn(TensorSite{path, where + " sparse values"}, v); err != nil {
				return err
			}
		}
		if ix := st.GetIndices(); ix != nil {
			if err := fn(TensorSite{path, where + " sparse indices"}, ix); err != nil {
				return err
			}
		}
	}
	return nil
}
