package graph

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *onnxpb.AttributeProto {
	for _, a := range n.Attrs {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// HasAttr reports whether the node has the attribute.
func (n *Node) HasAttr(name string) bool { return n.Attr(name) != nil }

// AttrInt returns an INT attribute, or def when it is absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloat returns a FLOAT attribute, or def when it is absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns a STRING attribute, or def when it is absent.
func (n *Node) AttrString(name, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.GetS())
	}
	return def
}

// AttrInts returns an INTS attribute, or def when it is absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.GetInts()
	}
	return def
}

// AttrFloats returns a FLOATS attribute, or def when it is absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil {
		return a.GetFloats()
	}
	return def
}

// AttrStrings returns a STRINGS attribute, or def when it is absent.
func (n *Node) AttrStrings(name string, def []string) []string {
	a := n.Attr(name)
	if a == nil {
		return def
	}
	out := make([]string, len(a.GetStrings()))
	for i, s := range a.GetStrings() {
		out[i] = string(s)
	}
	return out
}

// AttrTensor returns a TENSOR attribute decoded, or nil when it is absent.
func (n *Node) AttrTensor(name string) (*Tensor, error) {
	a := n.Attr(name)
	if a == nil || a.GetT() == nil {
		return nil, nil
	}
	t, err := TensorFromProto(a.GetT(), nil)
	if err != nil {
		return nil, fmt.Errorf("node %s attribute %s: %w", n.Label(), name, err)
	}
	return t, nil
}

// SetAttr sets (or adds) an attribute from a Go value: int, int64 -> INT;
// float32, float64 -> FLOAT; string -> STRING; []int64, []int -> INTS;
// []float32 -> FLOATS; []string -> STRINGS; *Tensor -> TENSOR;
// *Graph -> GRAPH. The node's other attributes keep their order.
func (n *Node) SetAttr(name string, value any) {
	a, err := NewAttr(name, value)
	if err != nil {
		panic(err)
	}
	if g, ok := value.(*Graph); ok {
		if n.Subgraphs == nil {
			n.Subgraphs = map[string]*Graph{}
		}
		g.Owner = n
		g.Parent = n.Graph
		n.Subgraphs[name] = g
	}
	for i, old := range n.Attrs {
		if old.GetName() == name {
			attrs := append([]*onnxpb.AttributeProto{}, n.Attrs...)
			attrs[i] = a
			n.Attrs = attrs
			return
		}
	}
	n.Attrs = append(append([]*onnxpb.AttributeProto{}, n.Attrs...), a)
}

// RemoveAttr deletes an attribute if present.
func (n *Node) RemoveAttr(name string) {
	var attrs []*onnxpb.AttributeProto
	for _, a := range n.Attrs {
		if a.GetName() != name {
			attrs = append(attrs, a)
		}
	}
	n.Attrs = attrs
	delete(n.Subgraphs, name)
}

// NewAttr builds an AttributeProto from a Go value (see SetAttr).
func NewAttr(name string, value any) (*onnxpb.AttributeProto, error) {
	a := &onnxpb.AttributeProto{Name: &name}
	typ := func(t onnxpb.AttributeProto_AttributeType) { a.Type = t.Enum() }
	switch v := value.(type) {
	case int:
		i := int64(v)
		a.I = &i
		typ(onnxpb.AttributeProto_INT)
	case int64:
		a.I = &v
		typ(onnxpb.AttributeProto_INT)
	case float32:
		a.F = &v
		typ(onnxpb.AttributeProto_FLOAT)
	case float64:
		if math.Abs(v) > math.MaxFloat32 && !math.IsInf(v, 0) {
			return nil, fmt.Errorf("attribute %s: %g does not fit float32", name, v)
		}
		f := float32(v)
		a.F = &f
		typ(onnxpb.AttributeProto_FLOAT)
	case string:
		a.S = []byte(v)
		typ(onnxpb.AttributeProto_STRING)
	case []int64:
		a.Ints = append([]int64{}, v...)
		typ(onnxpb.AttributeProto_INTS)
	case []int:
		for _, x := range v {
			a.Ints = append(a.Ints, int64(x))
		}
		typ(onnxpb.AttributeProto_INTS)
	case []float32:
		a.Floats = append([]float32{}, v...)
		typ(onnxpb.AttributeProto_FLOATS)
	case []string:
		for _, s := range v {
			a.Strings = append(a.Strings, []byte(s))
		}
		typ(onnxpb.AttributeProto_STRINGS)
	case *Tensor:
		a.T = v.ToProto("")
		typ(onnxpb.AttributeProto_TENSOR)
	case *Graph:
		a.G = &onnxpb.GraphProto{} // filled from the IR subgraph by ToProto
		typ(onnxpb.AttributeProto_GRAPH)
	default:
		return nil, fmt.Errorf("attribute %s: unsupported Go type %T", name, value)
	}
	return a, nil
}
