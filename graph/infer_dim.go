package graph

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// symDim is one dimension (or one element of an integer tensor) during
// shape inference: a known value n, or unknown, in which case sym may name
// it (an ONNX dim_param such as "batch").
type symDim struct {
	n   int64
	ok  bool
	sym string
}

func knownDim(n int64) symDim { return symDim{n: n, ok: true} }

var unknownDim = symDim{}

func (d symDim) String() string {
	switch {
	case d.ok:
		return strconv.FormatInt(d.n, 10)
	case d.sym != "":
		return d.sym
	}
	return "?"
}

// is reports whether d is known to equal n.
func (d symDim) is(n int64) bool { return d.ok && d.n == n }

// typeInfo is a tensor type during inference: an element type (Undefined
// when unknown) and, when ranked, one symDim per dimension.
type typeInfo struct {
	dt     DType
	dims   []symDim
	ranked bool
}

func ranked(dt DType, dims []symDim) typeInfo {
	if dims == nil {
		dims = []symDim{}
	}
	return typeInfo{dt: dt, dims: dims, ranked: true}
}

func unranked(dt DType) typeInfo { return typeInfo{dt: dt} }

// staticDims converts int64 dims to symDims; a negative dim is unknown.
func staticDims(ds ...int64) []symDim {
	out := make([]symDim, len(ds))
	for i, d := range ds {
		if d >= 0 {
			out[i] = knownDim(d)
		}
	}
	return out
}

func (t typeInfo) rank() int { return len(t.dims) }

// static returns the dims as int64 when the rank and every dim are known.
func (t typeInfo) static() ([]int64, bool) {
	if !t.ranked {
		return nil, false
	}
	out := make([]int64, len(t.dims))
	for i, d := range t.dims {
		if !d.ok {
			return nil, false
		}
		out[i] = d.n
	}
	return out, true
}

func (t typeInfo) String() string {
	if !t.ranked {
		return t.dt.String() + "[?]"
	}
	return t.dt.String() + fmtSymDims(t.dims)
}

func (t typeInfo) equal(u typeInfo) bool {
	if t.dt != u.dt || t.ranked != u.ranked || len(t.dims) != len(u.dims) {
		return false
	}
	for i := range t.dims {
		if t.dims[i] != u.dims[i] {
			return false
		}
	}
	return true
}

// typeInfoOf reads a value's type: an initializer's tensor, or its TypeProto
// (dim_param names kept). ok is false for non-tensor or absent types.
func typeInfoOf(v *Value) (typeInfo, bool) {
	if v == nil {
		return typeInfo{}, false
	}
	if v.Const != nil {
		dims := make([]symDim, len(v.Const.Shape))
		for i, d := range v.Const.Shape {
			dims[i] = knownDim(d)
		}
		return ranked(v.Const.DType, dims), true
	}
	tt := v.Type.GetTensorType()
	if tt == nil {
		return typeInfo{}, false
	}
	t := typeInfo{dt: DType(tt.GetElemType())}
	if tt.Shape == nil {
		return t, true
	}
	t.ranked = true
	t.dims = []symDim{}
	for _, d := range tt.Shape.GetDim() {
		switch x := d.Value.(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			if x.DimValue >= 0 {
				t.dims = append(t.dims, knownDim(x.DimValue))
			} else {
				t.dims = append(t.dims, unknownDim)
			}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			t.dims = append(t.dims, symDim{sym: x.DimParam})
		default:
			t.dims = append(t.dims, unknownDim)
		}
	}
	return t, true
}

// tensorTypeSym is TensorType for inferred dims that may carry symbolic
// names: a dim with ok set is a dim_value, one with a name a dim_param.
func tensorTypeSym(t typeInfo) *onnxpb.TypeProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32Ptr(int32(t.dt))}
	if t.ranked {
		tt.Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
		for _, d := range t.dims {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.ok:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.n}
			case d.sym != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.sym}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}

// unifyDim merges two descriptions of the same dimension. ok is false when
// both are known and differ.
func unifyDim(a, b symDim) (symDim, bool) {
	switch {
	case a.ok && b.ok:
		return a, a.n == b.n
	case a.ok:
		return a, true
	case b.ok:
		return b, true
	case a.sym == "":
		return b, true
	}
	return a, true
}

// joinDim describes a dimension that is a or b (the branches of an If):
// kept when both agree, unknown otherwise.
func joinDim(a, b symDim) symDim {
	if a == b {
		return a
	}
	return unknownDim
}

// broadcastDims applies numpy (multidirectional) broadcasting to shapes.
func broadcastDims(shapes ...[]symDim) ([]symDim, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]symDim, r)
	for i := range out {
		var acc symDim
		first := true
		for _, s := range shapes {
			j := i - (r - len(s))
			if j < 0 {
				continue
			}
			d := s[j]
			if first {
				acc, first = d, false
				continue
			}
			switch {
			case d.is(1):
			case acc.is(1):
				acc = d
			case acc.ok && d.ok:
				if acc.n != d.n {
					return nil, fmt.Errorf("dimension %d: %d and %d do not broadcast", i, acc.n, d.n)
				}
			case d.ok:
				acc = d // an unknown dim broadcast with n > 1 is 1 or n: the result is n
			case acc.ok:
			case acc.sym != "" && acc.sym == d.sym:
			default:
				acc = unknownDim
			}
		}
		out[i] = acc
	}
	return out, nil
}

// dimProduct multiplies dims: known when all are known, the one symbolic
// dim when every other dim is 1, unknown otherwise.
func dimProduct(ds []symDim) symDim {
	p := int64(1)
	var sym *symDim
	unknown := false
	for i, d := range ds {
		switch {
		case d.ok:
			p *= d.n
		case d.sym != "" && sym == nil:
			sym = &ds[i]
		default:
			unknown = true
		}
	}
	switch {
	case p == 0:
		return knownDim(0)
	case unknown:
		return unknownDim
	case sym == nil:
		return knownDim(p)
	case p == 1:
		return *sym
	}
	return unknownDim
}

// axisIndex normalizes an axis attribute for a tensor of the given rank.
func axisIndex(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// maxInferRank bounds the rank inference believes from a tensor's value
// (a Reshape target of unknown values but known length, say).
const maxInferRank = 1 << 10

// unknownDims returns n unknown dims, or ok false when n is not a sane rank.
func unknownDims(n int64) ([]symDim, bool) {
	if n < 0 || n > maxInferRank {
		return nil, false
	}
	return make([]symDim, n), true
}

// copyDims returns a fresh copy of ds.
func copyDims(ds []symDim) []symDim { return append([]symDim{}, ds...) }

func fmtSymDims(ds []symDim) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}
