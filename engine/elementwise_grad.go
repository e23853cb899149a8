package engine

import (
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// binaryGrad builds the gradient of a two-input broadcasting op from the
// per-element partial derivatives: da(a, b, y, g) and db(a, b, y, g) are
// the contributions to each input of one output element with gradient g.
// They are summed back over the broadcast dims. An integer input gets no
// gradient; a nil db means input 1 is not differentiable.
func binaryGrad(da, db func(a, b, y, g float32) float32) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		grads := make([]*graph.Tensor, 2)
		g := dout[0]
		if g == nil {
			return grads, nil
		}
		shape := outs[0].Shape
		a, err := expandFloats(in[0], shape)
		if err != nil {
			return nil, err
		}
		b, err := expandFloats(in[1], shape)
		if err != nil {
			return nil, err
		}
		y, err := outs[0].Float32s()
		if err != nil {
			return nil, err
		}
		gv, err := g.Float32s()
		if err != nil {
			return nil, err
		}
		for k, f := range []func(a, b, y, g float32) float32{da, db} {
			if f == nil || !isFloatTensor(in[k]) {
				continue
			}
			d := make([]float32, len(gv))
			for i := range d {
				d[i] = f(a[i], b[i], y[i], gv[i])
			}
			if grads[k], err = Unbroadcast(f32out(shape, d), in[k].Shape); err != nil {
				return nil, err
			}
		}
		return grads, nil
	}
}

// expandFloats returns t's values as float32, broadcast to shape.
func expandFloats(t *graph.Tensor, shape []int64) ([]float32, error) {
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	if slices.Equal(t.Shape, shape) {
		return f, nil
	}
	idx := BroadcastIndex(t.Shape, shape)
	out := make([]float32, len(idx))
	for i, j := range idx {
		out[i] = f[j]
	}
	return out, nil
}

var (
	addGrad = binaryGrad(
		func(a, b, y, g float32) float32 { return g },
		func(a, b, y, g float32) float32 { return g })
	subGrad = binaryGrad(
		func(a, b, y, g float32) float32 { return g },
		func(a, b, y, g float32) float32 { return -g })
	mulGrad = binaryGrad(
		func(a, b, y, g float32) float32 { return g * b },
		func(a, b, y, g float32) float32 { return g * a })
	divGrad = binaryGrad(
		func(a, b, y, g float32) float32 { return g / b },
		func(a, b, y, g float32) float32 { return -g * y / b })
	// powGrad differentiates the base: d(a^b)/da = b * a^(b-1). The
	// exponent gets d/db = a^b * ln(a) where a > 0 (the function is not
	// real-valued for a < 0 with non-integer b).
	powGrad = binaryGrad(
		func(a, b, y, g float32) float32 {
			return g * float32(float64(b)*math.Pow(float64(a), float64(b)-1))
		},
		func(a, b, y, g float32) float32 {
			if a <= 0 {
				return 0
			}
			return g * y * float32(math.Log(float64(a)))
		})
)
