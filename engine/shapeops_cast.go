package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// toFloat64s returns the elements of a numeric or bool tensor as float64
// (exact for every type but 64-bit integers beyond 2^53).
func toFloat64s(t *graph.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []uint64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	}
	if t.DType.IsInteger() || t.DType == graph.Bool {
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, x := range f {
		out[i] = float64(x)
	}
	return out, nil
}

// fromFloat64s converts a float64 tensor to dt: floats round to nearest
// (float8 saturating as Cast's default), integers truncate toward zero and
// wrap like a C cast, bool is x != 0.
func fromFloat64s(t *graph.Tensor, dt graph.DType) (*graph.Tensor, error) {
	return castFloats(t.Data.([]float64), t.Shape, dt, true)
}

func castFloats(v []float64, shape []int64, dt graph.DType, saturate bool) (*graph.Tensor, error) {
	n := len(v)
	var data any
	switch dt {
	case graph.Double:
		data = append([]float64(nil), v...)
	case graph.Float:
		d := make([]float32, n)
		for i, x := range v {
			d[i] = float32(x)
		}
		data = d
	case graph.Float16, graph.BFloat16:
		conv := graph.Float32ToFloat16
		if dt == graph.BFloat16 {
			conv = graph.Float32ToBFloat16
		}
		d := make([]uint16, n)
		for i, x := range v {
			d[i] = conv(float32(x))
		}
		data = d
	case graph.Float8E4M3FN, graph.Float8E4M3FNUZ, graph.Float8E5M2, graph.Float8E5M2FNUZ:
		enc := graph.Float8Encoder(dt, saturate)
		d := make([]uint8, n)
		for i, x := range v {
			d[i] = enc(float32(x))
		}
		data = d
	case graph.Bool:
		d := make([]bool, n)
		for i, x := range v {
			d[i] = x != 0
		}
		data = d
	default:
		if !dt.IsInteger() {
			return nil, fmt.Errorf("cannot convert to %s", dt)
		}
		w := make([]int64, n)
		for i, x := range v {
			w[i] = truncInt(x)
		}
		return castInts(w, shape, dt)
	}
	return out(dt, shape, data), nil
}

// truncInt converts toward zero; NaN gives 0 and out-of-range values the
// nearest int64 (Go leaves these implementation-defined).
func truncInt(x float64) int64 {
	switch {
	case x != x:
		return 0
	case x >= 9.223372036854775807e18:
		return math.MaxInt64
	case x <= -9.223372036854775808e18:
		return math.MinInt64
	}
	return int64(x)
}

// castInts converts int64 values to dt. Narrower integer types keep the
// low bits (two's complement wrap, as a C cast); 4-bit types wrap to 4
// bits.
func castInts(v []int64, shape []int64, dt graph.DType) (*graph.Tensor, error) {
	var data any
	switch dt {
	case graph.Int64:
		data = append([]int64(nil), v...)
	case graph.Int32:
		data = convertSlice[int32](v)
	case graph.Int16:
		data = convertSlice[int16](v)
	case graph.Int8:
		data = convertSlice[int8](v)
	case graph.Uint8:
		data = convertSlice[uint8](v)
	case graph.Uint16:
		data = convertSlice[uint16](v)
	case graph.Uint32:
		data = convertSlice[uint32](v)
	case graph.Uint64:
		data = convertSlice[uint64](v)
	case graph.Int4:
		d := make([]int8, len(v))
		for i, x := range v {
			d[i] = int8(uint8(x)<<4) >> 4
		}
		data = d
	case graph.Uint4:
		d := make([]uint8, len(v))
		for i, x := range v {
			d[i] = uint8(x) & 0xf
		}
		data = d
	case graph.Bool:
		d := make([]bool, len(v))
		for i, x := range v {
			d[i] = x != 0
		}
		data = d
	default:
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		return castFloats(f, shape, dt, true)
	}
	return out(dt, shape, data), nil
}

func convertSlice[T number](v []int64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// CastTensor converts t to element type to, as the ONNX Cast operator
// does. saturate applies to float8 targets.
func CastTensor(t *graph.Tensor, to graph.DType, saturate bool) (*graph.Tensor, error) {
	if t.DType == to {
		return t, nil
	}
	switch {
	case t.DType == graph.String:
		return castFromStrings(t, to, saturate)
	case to == graph.String:
		return castToStrings(t)
	case t.DType == graph.Uint64:
		if to.IsFloat() {
			f, _ := toFloat64s(t)
			return castFloats(f, t.Shape, to, saturate)
		}
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		return castInts(v, t.Shape, to)
	case t.DType.IsInteger() || t.DType == graph.Bool:
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		if to.IsFloat() {
			f := make([]float64, len(v))
			for i, x := range v {
				f[i] = float64(x)
			}
			return castFloats(f, t.Shape, to, saturate)
		}
		return castInts(v, t.Shape, to)
	case t.DType.IsFloat():
		f, err := toFloat64s(t)
		if err != nil {
			return nil, err
		}
		return castFloats(f, t.Shape, to, saturate)
	}
	return nil, fmt.Errorf("cannot cast %s to %s", t.DType, to)
}

// castFromStrings parses decimal numbers ("1.5", "-INF", "NaN", "7").
func castFromStrings(t *graph.Tensor, to graph.DType, saturate bool) (*graph.Tensor, error) {
	ss := t.Data.([]string)
	if to.IsInteger() {
		v := make([]int64, len(ss))
		for i, s := range ss {
			x, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if ferr != nil {
					return nil, fmt.Errorf("element %d: %q is not a number", i, s)
				}
				x = truncInt(f)
			}
			v[i] = x
		}
		return castInts(v, t.Shape, to)
	}
	f := make([]float64, len(ss))
	for i, s := range ss {
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			if b, berr := strconv.ParseBool(strings.TrimSpace(s)); berr == nil && to == graph.Bool {
				if b {
					x = 1
				}
			} else if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				// ParseFloat returns ±Inf or 0 with ErrRange: keep it.
			} else {
				return nil, fmt.Errorf("element %d: %q is not a number", i, s)
			}
		}
		f[i] = x
	}
	return castFloats(f, t.Shape, to, saturate)
}

// castToStrings formats numbers as the ONNX reference does (numpy's str):
// floats in shortest round-trip form, "NaN", "INF", "-INF".
func castToStrings(t *graph.Tensor) (*graph.Tensor, error) {
	n := t.Len()
	ss := make([]string, n)
	switch {
	case t.DType == graph.Bool:
		for i, b := range t.Data.([]bool) {
			ss[i] = strings.ToUpper(strconv.FormatBool(b)[:1]) + strconv.FormatBool(b)[1:]
		}
	case t.DType.IsInteger():
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			ss[i] = strconv.FormatInt(x, 10)
		}
	default:
		bits := 32
		if t.DType == graph.Double {
			bits = 64
		}
		f, err := toFloat64s(t)
		if err != nil {
			return nil, err
		}
		for i, x := range f {
			ss[i] = formatFloat(x, bits)
		}
	}
	return out(graph.String, t.Shape, ss), nil
}

func formatFloat(x float64, bits int) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "INF"
	case math.IsInf(x, -1):
		return "-INF"
	}
	return strconv.FormatFloat(x, 'g', -1, bits)
}

// castKernel is Cast: attribute to (an element type); from opset 19,
// saturate (float8 targets only).
func castKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	to := graph.DType(ctx.Node.AttrInt("to", 0))
	return oneErr(CastTensor(in[0], to, ctx.Node.AttrInt("saturate", 1) != 0))
}

// castLikeKernel is CastLike: cast input 0 to the element type of input 1.
func castLikeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	return oneErr(CastTensor(in[0], in[1].DType, ctx.Node.AttrInt("saturate", 1) != 0))
}

func checkCast(n *graph.Node) error {
	a := n.Attr("to")
	if a == nil {
		return fmt.Errorf("attribute to is missing")
	}
	switch dt := graph.DType(a.GetI()); dt {
	case graph.Undefined, graph.Complex64, graph.Complex128, graph.Float4E2M1, graph.Float8E8M0:
		return fmt.Errorf("cast to %s is not supported", dt)
	}
	return nil
}

// castGrad passes the gradient through float-to-float casts.
func castGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if dout[0] == nil || !in[0].DType.IsFloat() || !outs[0].DType.IsFloat() {
		return []*graph.Tensor{nil}, nil
	}
	g, err := dout[0].Float32s()
	if err != nil {
		return nil, err
	}
	return []*graph.Tensor{f32out(in[0].Shape, g)}, nil
}

func init() {
	// Opsets 1-5 named the target type with a string.
	Register(&Op{Type: "Cast", MinOpset: 6, Forward: castKernel, Backward: castGrad, Check: checkCast})
	Register(&Op{Type: "CastLike", MinOpset: 15, Forward: castLikeKernel, Backward: castGrad})
}
