package graph

import (
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Model is an ONNX model in IR form: the main graph and the operator sets
// it imports. Everything the IR does not model (metadata, functions,
// training info, unknown fields) is kept from the file it came from and
// written back unchanged.
type Model struct {
	IRVersion int64
	Opsets    []Opset
	Graph     *Graph

	// Dir is the folder external data of unchanged tensors is read from.
	Dir   string
	proto *onnxpb.ModelProto
}

// Opset is one operator set import.
type Opset struct {
	Domain  string // "" (or "ai.onnx") for the default ONNX domain
	Version int64
}

// Opset returns the imported version of domain ("" and "ai.onnx" are the
// same domain), or 0 when the model does not import it.
func (m *Model) Opset(domain string) int64 {
	domain = canonicalDomain(domain)
	for _, o := range m.Opsets {
		if canonicalDomain(o.Domain) == domain {
			return o.Version
		}
	}
	return 0
}

// SetOpset sets the imported version of domain, adding the import if needed.
func (m *Model) SetOpset(domain string, version int64) {
	c := canonicalDomain(domain)
	for i, o := range m.Opsets {
		if canonicalDomain(o.Domain) == c {
			m.Opsets[i].Version = version
			return
		}
	}
	m.Opsets = append(m.Opsets, Opset{Domain: domain, Version: version})
}

func canonicalDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// ProducerName returns the model's producer_name.
func (m *Model) ProducerName() string { return m.proto.GetProducerName() }

// Metadata returns the model's metadata_props as a list of key/value pairs.
func (m *Model) Metadata() [][2]string {
	var kv [][2]string
	for _, p := range m.proto.GetMetadataProps() {
		kv = append(kv, [2]string{p.GetKey(), p.GetValue()})
	}
	return kv
}

// Graph is a list of nodes with its inputs, outputs and initializers. A
// subgraph (the body of an If, Loop or Scan) has a Parent and may use the
// values of its enclosing graphs.
type Graph struct {
	Name         string
	Nodes        []*Node
	Inputs       []*Value
	Outputs      []*Value
	Initializers []*Value // values with Const set, in file order

	Parent *Graph // nil for the main graph
	Owner  *Node  // the node whose attribute holds this subgraph

	proto  *onnxpb.GraphProto
	sparse []*onnxpb.SparseTensorProto
	// valueInfo lists the values that have a value_info entry, in order.
	valueInfo []*Value
	// outInfo keeps the file's description of each graph output.
	outInfo map[*Value]*onnxpb.ValueInfoProto
	// scopes maps names to values while the graph is being converted.
	scopes map[string]*Value
}

// Value is an edge of the graph: a graph input, an initializer, or a node
// output. Node inputs point at Values; a Value may be used by nodes of
// subgraphs below the graph that defines it.
type Value struct {
	Name string
	// Type is the value's type as the file or shape inference gives it;
	// nil when unknown.
	Type *onnxpb.TypeProto
	// Const is the data of an initializer (nil for other values).
	Const *Tensor
	// Producer is the node that computes the value, and Index which of its
	// outputs it is; nil for graph inputs and initializers.
	Producer *Node
	Index    int
	// Graph is the graph in whose scope the value is defined.
	Graph *Graph

	info *onnxpb.ValueInfoProto // as read from the file, if any
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []*Value // nil for an omitted optional input
	Outputs []*Value // nil for an omitted optional output
	Attrs   []*onnxpb.AttributeProto
	// Subgraphs holds the graph-valued attributes (If branches, Loop and
	// Scan bodies) by attribute name, converted to IR.
	Subgraphs map[string]*Graph
	Graph     *Graph

	proto *onnxpb.NodeProto
}

// Label names the node for messages: its name, or its op type and first
// output when it has no name.
func (n *Node) Label() string {
	if n.Name != "" {
		return "\"" + n.Name + "\" (" + n.OpType + ")"
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return n.OpType + " -> \"" + n.Outputs[0].Name + "\""
	}
	return n.OpType
}

// Input returns input i, or nil if the node has fewer inputs or it is omitted.
func (n *Node) Input(i int) *Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

// Output returns output i, or nil.
func (n *Node) Output(i int) *Value {
	if i < len(n.Outputs) {
		return n.Outputs[i]
	}
	return nil
}

// IsConst reports whether v is an initializer.
func (v *Value) IsConst() bool { return v != nil && v.Const != nil }

// ElemType returns the element type of a tensor-typed value, or Undefined.
func (v *Value) ElemType() DType {
	if v == nil {
		return Undefined
	}
	if v.Const != nil {
		return v.Const.DType
	}
	if tt := v.Type.GetTensorType(); tt != nil {
		return DType(tt.GetElemType())
	}
	return Undefined
}

// Shape returns the static shape of a tensor-typed value: one entry per
// dimension, -1 where the size is unknown or symbolic. ok is false when
// not even the rank is known.
func (v *Value) Shape() (dims []int64, ok bool) {
	if v == nil {
		return nil, false
	}
	if v.Const != nil {
		return append([]int64{}, v.Const.Shape...), true
	}
	tt := v.Type.GetTensorType()
	if tt == nil || tt.Shape == nil {
		return nil, false
	}
	for _, d := range tt.GetShape().GetDim() {
		if x, isV := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); isV {
			dims = append(dims, x.DimValue)
		} else {
			dims = append(dims, -1)
		}
	}
	if dims == nil {
		dims = []int64{}
	}
	return dims, true
}

// TensorType returns the TypeProto of a tensor of element type dt and the
// given dims; a negative dim is unknown and a dim < -1 is left out.
// A nil dims gives a tensor type without a shape.
func TensorType(dt DType, dims []int64) *onnxpb.TypeProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32Ptr(int32(dt))}
	if dims != nil {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
		for _, d := range dims {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}
