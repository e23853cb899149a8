package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// number is the set of Go element types arithmetic kernels are
// instantiated for.
type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// isHalf reports whether dt is a 16-bit float type, which kernels compute
// in float32 and round back.
func isHalf(dt graph.DType) bool { return dt == graph.Float16 || dt == graph.BFloat16 }

// widenHalf returns a float32 copy of a float16 or bfloat16 tensor, and t
// itself for every other type.
func widenHalf(t *graph.Tensor) (*graph.Tensor, error) {
	if t == nil || !isHalf(t.DType) {
		return t, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return f32out(t.Shape, f), nil
}

// narrowHalf rounds a float32 tensor to dt when dt is a 16-bit float type
// (to nearest even) and returns t unchanged otherwise.
func narrowHalf(t *graph.Tensor, dt graph.DType) *graph.Tensor {
	if !isHalf(dt) || t.DType != graph.Float {
		return t
	}
	src := t.Data.([]float32)
	dst := make([]uint16, len(src))
	conv := graph.Float32ToFloat16
	if dt == graph.BFloat16 {
		conv = graph.Float32ToBFloat16
	}
	for i, v := range src {
		dst[i] = conv(v)
	}
	return out(dt, t.Shape, dst)
}

// sameType checks that every present input has the element type of the
// first.
func sameType(in []*graph.Tensor) error {
	var first *graph.Tensor
	for i, t := range in {
		if t == nil {
			continue
		}
		if first == nil {
			first = t
			continue
		}
		if t.DType != first.DType {
			return fmt.Errorf("input %d is %s but input 0 is %s", i, t.DType, first.DType)
		}
	}
	return nil
}

// hasZero reports whether an integer tensor holds a zero (a divisor).
func hasZero(t *graph.Tensor) bool {
	if !t.DType.IsInteger() {
		return false
	}
	v, err := t.Int64s()
	if err != nil {
		return false
	}
	for _, x := range v {
		if x == 0 {
			return true
		}
	}
	return false
}

// floatBinary computes f over a and b broadcast together and returns a
// tensor of a's type: in float32 when both are float32, otherwise in
// float64 (then converted back, which is exact for every integer type up
// to 2^53).
func floatBinary(ctx *Context, a, b *graph.Tensor, f32 func(x, y float32) float32, f64 func(x, y float64) float64) (*graph.Tensor, error) {
	if x, ok := a.Data.([]float32); ok {
		if y, ok := b.Data.([]float32); ok {
			dst, shape, err := broadcastBinary(ctx, x, a.Shape, y, b.Shape, vecOf(f32))
			if err != nil {
				return nil, err
			}
			return f32out(shape, dst), nil
		}
	}
	x, err := toFloat64s(a)
	if err != nil {
		return nil, err
	}
	y, err := toFloat64s(b)
	if err != nil {
		return nil, err
	}
	dst, shape, err := broadcastBinary(nil, x, a.Shape, y, b.Shape, vecOf(f64))
	if err != nil {
		return nil, err
	}
	return castFloats(dst, shape, a.DType, true)
}

// gradBinary computes f over two float tensors broadcast together, in
// float32, for gradient formulas.
func gradBinary(a, b *graph.Tensor, f func(x, y float32) float32) (*graph.Tensor, error) {
	x, err := a.Float32s()
	if err != nil {
		return nil, err
	}
	y, err := b.Float32s()
	if err != nil {
		return nil, err
	}
	dst, shape, err := broadcastBinary(nil, x, a.Shape, y, b.Shape, vecOf(f))
	if err != nil {
		return nil, err
	}
	return f32out(shape, dst), nil
}

// isFloatTensor reports whether a gradient flows through t.
func isFloatTensor(t *graph.Tensor) bool { return t != nil && t.DType.IsFloat() }
