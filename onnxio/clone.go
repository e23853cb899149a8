package onnxio

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// cloneSharingBytes returns a deep copy of m whose bytes fields (raw_data,
// string_data) share their arrays with m instead of copying them. Replacing
// a field of the copy leaves m unchanged; nobody may write into the shared
// arrays. Save uses it so that a model of several GiB is not held twice.
func cloneSharingBytes(m proto.Message) proto.Message {
	src := m.ProtoReflect()
	dst := src.New()
	copyMessage(dst, src)
	return dst.Interface()
}

func copyMessage(dst, src protoreflect.Message) {
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.FloatKind:
			// copyFloats copies these bit for bit.
		case fd.IsList():
			dl, sl := dst.Mutable(fd).List(), v.List()
			for i := 0; i < sl.Len(); i++ {
				dl.Append(copyValue(fd.Message() != nil, sl.Get(i), dl.NewElement))
			}
		case fd.IsMap():
			dm := dst.Mutable(fd).Map()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				dm.Set(k, copyValue(fd.MapValue().Message() != nil, mv, dm.NewValue))
				return true
			})
		case fd.Message() != nil:
			copyMessage(dst.Mutable(fd).Message(), v.Message())
		default:
			dst.Set(fd, v) // scalars; bytes are shared, not copied
		}
		return true
	})
	copyFloats(dst.Interface(), src.Interface())
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(append(protoreflect.RawFields(nil), u...))
	}
}

func copyValue(isMsg bool, v protoreflect.Value, newValue func() protoreflect.Value) protoreflect.Value {
	if !isMsg {
		return v
	}
	c := newValue()
	copyMessage(c.Message(), v.Message())
	return c
}

// floatFields names the float fields of the ONNX schema, which copyFloats
// copies through their Go fields: protoreflect carries a float as a
// float64, and converting a signalling NaN to float64 and back changes its
// bits (a test checks that the list is complete).
var floatFields = []string{"onnxq.onnx.TensorProto.float_data", "onnxq.onnx.AttributeProto.f", "onnxq.onnx.AttributeProto.floats"}

func copyFloats(dst, src proto.Message) {
	switch s := src.(type) {
	case *onnxpb.TensorProto:
		dst.(*onnxpb.TensorProto).FloatData = append([]float32(nil), s.FloatData...)
	case *onnxpb.AttributeProto:
		d := dst.(*onnxpb.AttributeProto)
		if s.F != nil {
			d.F = proto.Float32(*s.F)
		}
		d.Floats = append([]float32(nil), s.Floats...)
	}
}
