package graph

import (
	"fmt"

	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// FromFile loads an ONNX file and converts it to IR.
func FromFile(path string) (*Model, error) {
	om, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	m, err := FromONNX(om)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FromONNX converts a loaded model to IR. Tensors stored as external data
// are read from the model's folder.
func FromONNX(om *onnxio.Model) (*Model, error) {
	mp := om.Proto
	m := &Model{IRVersion: mp.GetIrVersion(), Dir: om.Dir, proto: mp}
	for _, o := range mp.GetOpsetImport() {
		m.Opsets = append(m.Opsets, Opset{Domain: o.GetDomain(), Version: o.GetVersion()})
	}
	c := converter{ext: om.ReadTensorData}
	g, err := c.graph(mp.GetGraph(), nil, nil, "main graph")
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

type converter struct {
	ext func(*onnxpb.TensorProto) ([]byte, error)
}

func (c *converter) graph(gp *onnxpb.GraphProto, parent *Graph, owner *Node, where string) (*Graph, error) {
	g := &Graph{Name: gp.GetName(), Parent: parent, Owner: owner, proto: gp, sparse: gp.GetSparseInitializer()}
	scope := map[string]*Value{}
	define := func(v *Value) error {
		if old, dup := scope[v.Name]; dup && old != v {
			return fmt.Errorf("%s: value %q is defined twice", where, v.Name)
		}
		scope[v.Name] = v
		return nil
	}
	for _, vi := range gp.GetInput() {
		v := &Value{Name: vi.GetName(), Type: vi.GetType(), Graph: g, info: vi}
		if err := define(v); err != nil {
			return nil, err
		}
		g.Inputs = append(g.Inputs, v)
	}
	for _, tp := range gp.GetInitializer() {
		t, err := TensorFromProto(tp, c.ext)
		if err != nil {
			return nil, fmt.Errorf("%s: initializer %q: %w", where, tp.GetName(), err)
		}
		v := scope[tp.GetName()] // IR < 4: initializers are also inputs
		if v == nil {
			v = &Value{Name: tp.GetName(), Graph: g}
			scope[v.Name] = v
		} else if v.Const != nil {
			return nil, fmt.Errorf("%s: initializer %q is defined twice", where, tp.GetName())
		}
		v.Const = t
		g.Initializers = append(g.Initializers, v)
	}
	for _, sp := range gp.GetSparseInitializer() {
		v := &Value{Name: sp.GetValues().GetName(), Graph: g}
		if err := define(v); err != nil {
			return nil, err
		}
	}
	// Define every node output first: files need not list nodes in
	// topological order.
	for _, np := range gp.GetNode() {
		n := &Node{Name: np.GetName(), OpType: np.GetOpType(), Domain: np.GetDomain(), Attrs: np.GetAttribute(), Graph: g, proto: np}
		for i, name := range np.GetOutput() {
			if name == "" {
				n.Outputs = append(n.Outputs, nil)
				continue
			}
			v := &Value{Name: name, Producer: n, Index: i, Graph: g}
			if err := define(v); err != nil {
				return nil, fmt.Errorf("%s: node %s: %w", where, n.Label(), err)
			}
			n.Outputs = append(n.Outputs, v)
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, n := range g.Nodes {
		for _, name := range n.proto.GetInput() {
			if name == "" {
				n.Inputs = append(n.Inputs, nil)
				continue
			}
			v := lookup(g, scope, name)
			if v == nil {
				return nil, fmt.Errorf("%s: node %s: input %q is not defined", where, n.Label(), name)
			}
			n.Inputs = append(n.Inputs, v)
		}
		for _, a := range n.Attrs {
			if a.GetType() != onnxpb.AttributeProto_GRAPH || a.GetG() == nil {
				continue
			}
			g.scopes = scope
			sub, err := c.graph(a.GetG(), g, n, subgraphWhere(where, n, a.GetName()))
			if err != nil {
				return nil, err
			}
			if n.Subgraphs == nil {
				n.Subgraphs = map[string]*Graph{}
			}
			n.Subgraphs[a.GetName()] = sub
		}
	}
	for _, vi := range gp.GetOutput() {
		v := lookup(g, scope, vi.GetName())
		if v == nil {
			return nil, fmt.Errorf("%s: graph output %q is not defined", where, vi.GetName())
		}
		if v.Type == nil {
			v.Type = vi.GetType()
		}
		g.Outputs = append(g.Outputs, v)
		if g.outInfo == nil {
			g.outInfo = map[*Value]*onnxpb.ValueInfoProto{}
		}
		g.outInfo[v] = vi
	}
	for _, vi := range gp.GetValueInfo() {
		v := scope[vi.GetName()]
		if v == nil || v.info != nil {
			// value_info for an unknown or already described value: keep
			// the entry as it is.
			v = &Value{Name: vi.GetName(), Graph: g, info: vi, Type: vi.GetType()}
			g.valueInfo = append(g.valueInfo, v)
			continue
		}
		v.info = vi
		if v.Type == nil {
			v.Type = vi.GetType()
		}
		g.valueInfo = append(g.valueInfo, v)
	}
	g.scopes = scope
	return g, nil
}

// subgraphWhere names a subgraph for messages, with names shortened so
// that deep nesting of long-named nodes stays cheap.
func subgraphWhere(where string, n *Node, attr string) string {
	if len(where) > 1000 {
		where = where[:500] + "..." + where[len(where)-400:]
	}
	return where + "/node " + onnxio.ShortName(n.Label()) + " attribute " + onnxio.ShortName(attr)
}

// lookup resolves name in g's scope, then in the enclosing graphs.
func lookup(g *Graph, scope map[string]*Value, name string) *Value {
	if v := scope[name]; v != nil {
		return v
	}
	for p := g.Parent; p != nil; p = p.Parent {
		if v := p.scopes[name]; v != nil {
			return v
		}
	}
	return nil
}
