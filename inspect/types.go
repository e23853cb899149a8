package inspect

import (
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// describe gives the name, type and shape of a graph input or output.
func describe(v *graph.Value) IOInfo {
	info := IOInfo{Name: v.Name}
	t := v.Type
	if t == nil && v.Const != nil {
		t = graph.TensorType(v.Const.DType, v.Const.Shape)
	}
	info.ElemType = typeName(t)
	switch {
	case t.GetTensorType() != nil:
		info.Shape = shapeOf(t.GetTensorType().GetShape())
	case t.GetSparseTensorType() != nil:
		info.Shape = shapeOf(t.GetSparseTensorType().GetShape())
	}
	return info
}

// typeName spells a type: the element type name for a tensor, a wrapped
// form for the other kinds, "" when unknown.
func typeName(t *onnxpb.TypeProto) string {
	switch {
	case t == nil:
		return ""
	case t.GetTensorType() != nil:
		return elemName(t.GetTensorType().GetElemType())
	case t.GetSparseTensorType() != nil:
		return "sparse_tensor(" + elemName(t.GetSparseTensorType().GetElemType()) + ")"
	case t.GetSequenceType() != nil:
		return "sequence(" + orUnknown(typeName(t.GetSequenceType().GetElemType())) + ")"
	case t.GetOptionalType() != nil:
		return "optional(" + orUnknown(typeName(t.GetOptionalType().GetElemType())) + ")"
	case t.GetMapType() != nil:
		mt := t.GetMapType()
		return "map(" + elemName(mt.GetKeyType()) + "," + orUnknown(typeName(mt.GetValueType())) + ")"
	case t.GetOpaqueType() != nil:
		return "opaque(" + t.GetOpaqueType().GetDomain() + ":" + t.GetOpaqueType().GetName() + ")"
	}
	return ""
}

func elemName(dt int32) string {
	if dt == 0 {
		return "UNDEFINED"
	}
	return onnxio.DataTypeName(dt)
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// shapeOf lists the dims of a shape: int64 for a fixed size, the dim_param
// string for a symbolic one, nil for an unknown one. A nil shape (rank
// unknown) gives nil; a rank-0 shape gives an empty slice.
func shapeOf(s *onnxpb.TensorShapeProto) []any {
	if s == nil {
		return nil
	}
	dims := make([]any, 0, len(s.GetDim()))
	for _, d := range s.GetDim() {
		switch x := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			dims = append(dims, x.DimValue)
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			dims = append(dims, x.DimParam)
		default:
			dims = append(dims, nil)
		}
	}
	return dims
}
