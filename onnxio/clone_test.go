package onnxio

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// TestFloatFieldsComplete checks that floatFields lists every float field
// of the schema: a float field that cloneSharingBytes copied through
// protoreflect would lose the payload of signalling NaNs.
func TestFloatFieldsComplete(t *testing.T) {
	var found []string
	var visit func(protoreflect.MessageDescriptors)
	visit = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			md := ms.Get(i)
			for j := range md.Fields().Len() {
				if fd := md.Fields().Get(j); fd.Kind() == protoreflect.FloatKind {
					found = append(found, string(fd.FullName()))
				}
			}
			visit(md.Messages())
		}
	}
	visit(onnxpb.File_onnx_proto.Messages())
	slices.Sort(found)
	want := slices.Sorted(slices.Values(floatFields))
	if !slices.Equal(found, want) {
		t.Errorf("float fields of the schema: %v; floatFields lists %v", found, want)
	}
}

// TestCloneSharingBytes checks that the copy equals the original bit for
// bit (signalling NaNs included), shares raw_data, and is independent.
func TestCloneSharingBytes(t *testing.T) {
	snan := math.Float32frombits(0x7f800001) // a signalling NaN
	tp := &onnxpb.TensorProto{Name: proto.String("t"), Dims: []int64{2}, DataType: proto.Int32(1), FloatData: []float32{snan, 1}}
	raw := &onnxpb.TensorProto{Name: proto.String("r"), Dims: []int64{1}, DataType: proto.Int32(1), RawData: []byte{0, 0, 128, 127}}
	attr := &onnxpb.AttributeProto{Name: proto.String("a"), F: proto.Float32(snan), Floats: []float32{snan}, T: tp}
	m := &onnxpb.ModelProto{IrVersion: proto.Int64(10), Graph: &onnxpb.GraphProto{
		Initializer: []*onnxpb.TensorProto{raw},
		Node:        []*onnxpb.NodeProto{{OpType: proto.String("X"), Attribute: []*onnxpb.AttributeProto{attr}}},
	}}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0x07, 0x01}) // field 127, varint 1
	c := cloneSharingBytes(m).(*onnxpb.ModelProto)
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the copy marshals to different bytes")
	}
	if &c.Graph.Initializer[0].RawData[0] != &raw.RawData[0] {
		t.Errorf("raw_data was copied, not shared")
	}
	c.Graph.Initializer[0].RawData = nil
	c.Graph.Node[0].Attribute[0].T.FloatData[1] = 2
	if raw.RawData == nil || tp.FloatData[1] != 1 {
		t.Errorf("changing the copy changed the original")
	}
}
