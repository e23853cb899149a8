package graph

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// ToProto converts the model back to its protobuf form. What the IR did not
// change comes out as it came in: an unchanged model gives the same bytes.
func (m *Model) ToProto() *onnxpb.ModelProto {
	out := &onnxpb.ModelProto{}
	if m.proto != nil {
		keepGraph := m.proto.Graph
		keepOps := m.proto.OpsetImport
		m.proto.Graph, m.proto.OpsetImport = nil, nil
		out = proto.Clone(m.proto).(*onnxpb.ModelProto)
		m.proto.Graph, m.proto.OpsetImport = keepGraph, keepOps
	}
	ir := m.IRVersion
	out.IrVersion = &ir
	out.OpsetImport = opsetProtos(m.Opsets, m.proto.GetOpsetImport())
	out.Graph = m.Graph.ToProto()
	return out
}

// Save writes the model to path (atomically; see onnxio.Save).
func (m *Model) Save(path string) error {
	return onnxio.Save(m.ToProto(), path, onnxio.SaveOptions{SourceDir: m.Dir})
}

func opsetProtos(ops []Opset, orig []*onnxpb.OperatorSetIdProto) []*onnxpb.OperatorSetIdProto {
	var out []*onnxpb.OperatorSetIdProto
	for i, o := range ops {
		if i < len(orig) && orig[i].GetDomain() == o.Domain && orig[i].GetVersion() == o.Version {
			out = append(out, orig[i])
			continue
		}
		d, v := o.Domain, o.Version
		out = append(out, &onnxpb.OperatorSetIdProto{Domain: &d, Version: &v})
	}
	return out
}

// ToProto converts the graph (and its subgraphs) to a GraphProto.
func (g *Graph) ToProto() *onnxpb.GraphProto {
	gp := &onnxpb.GraphProto{}
	if g.proto != nil {
		o := g.proto
		gp.DocString = o.DocString
		gp.QuantizationAnnotation = o.QuantizationAnnotation
		gp.MetadataProps = o.MetadataProps
		gp.SparseInitializer = g.sparse
		gp.ProtoReflect().SetUnknown(o.ProtoReflect().GetUnknown())
	}
	if g.Name != "" || g.proto == nil || g.proto.Name != nil {
		name := g.Name
		gp.Name = &name
	}
	for _, n := range g.Nodes {
		gp.Node = append(gp.Node, n.ToProto())
	}
	for _, v := range g.Initializers {
		gp.Initializer = append(gp.Initializer, v.Const.ToProto(v.Name))
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, valueInfo(v, v.info))
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, valueInfo(v, g.outInfo[v]))
	}
	if len(g.valueInfo) > 0 {
		nodes := make(map[*Node]bool, len(g.Nodes))
		for _, n := range g.Nodes {
			nodes[n] = true
		}
		inputs := make(map[*Value]bool, len(g.Inputs))
		for _, v := range g.Inputs {
			inputs[v] = true
		}
		for _, v := range g.valueInfo {
			defined := inputs[v] || v.Const != nil
			if v.Graph == g && v.info != nil && !defined && v.Producer == nil {
				gp.ValueInfo = append(gp.ValueInfo, v.info) // entry for a value the graph does not define
				continue
			}
			if live := defined || v.Producer != nil && v.Producer.Graph == g && nodes[v.Producer]; live {
				gp.ValueInfo = append(gp.ValueInfo, valueInfo(v, v.info))
			}
		}
	}
	return gp
}

// valueInfo returns the ValueInfoProto of v, reusing the file's entry when
// name and type are unchanged.
func valueInfo(v *Value, info *onnxpb.ValueInfoProto) *onnxpb.ValueInfoProto {
	if info != nil && info.GetName() == v.Name && (info.Type == v.Type || v.Type == nil && info.Type == nil) {
		return info
	}
	name := v.Name
	vi := &onnxpb.ValueInfoProto{Name: &name, Type: v.Type}
	if v.Type == nil && v.Const != nil {
		vi.Type = TensorType(v.Const.DType, v.Const.Shape)
	}
	if info != nil {
		vi.DocString = info.DocString
		vi.MetadataProps = info.MetadataProps
	}
	return vi
}

// ToProto converts the node to a NodeProto.
func (n *Node) ToProto() *onnxpb.NodeProto {
	np := &onnxpb.NodeProto{}
	if o := n.proto; o != nil {
		np.DocString = o.DocString
		np.Overload = o.Overload
		np.MetadataProps = o.MetadataProps
		np.DeviceConfigurations = o.DeviceConfigurations
		np.ProtoReflect().SetUnknown(o.ProtoReflect().GetUnknown())
	}
	np.Input = valueNames(n.Inputs)
	np.Output = valueNames(n.Outputs)
	if n.Name != "" || n.proto.GetName() != "" || (n.proto != nil && n.proto.Name != nil) {
		name := n.Name
		np.Name = &name
	}
	if n.OpType != "" || n.proto == nil || n.proto.OpType != nil {
		op := n.OpType
		np.OpType = &op
	}
	if n.Domain != "" || (n.proto != nil && n.proto.Domain != nil) {
		d := n.Domain
		np.Domain = &d
	}
	for _, a := range n.Attrs {
		if sub, ok := n.Subgraphs[a.GetName()]; ok && a.GetType() == onnxpb.AttributeProto_GRAPH {
			c := shallowAttr(a)
			c.G = sub.ToProto()
			a = c
		}
		np.Attribute = append(np.Attribute, a)
	}
	return np
}

func shallowAttr(a *onnxpb.AttributeProto) *onnxpb.AttributeProto {
	g := a.G
	a.G = nil
	c := proto.Clone(a).(*onnxpb.AttributeProto)
	a.G = g
	return c
}

func valueNames(vs []*Value) []string {
	if len(vs) == 0 {
		return nil
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		if v != nil {
			names[i] = v.Name
		}
	}
	return names
}

// String describes the node briefly, for debugging.
func (n *Node) String() string {
	return fmt.Sprintf("%s(%v) -> %v", n.Label(), valueNames(n.Inputs), valueNames(n.Outputs))
}
