package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// preluKernel is PRelu: y = x for x >= 0, slope*x otherwise; slope
// broadcasts to x (unidirectionally).
func preluKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x, s := in[0], in[1]
	if sh, err := BroadcastShape(x.Shape, s.Shape); err != nil || !slices.Equal(sh, x.Shape) {
		return nil, fmt.Errorf("slope of shape %v does not broadcast to input shape %v", s.Shape, x.Shape)
	}
	wx, err := widenHalf(x)
	if err != nil {
		return nil, err
	}
	ws, err := widenHalf(s)
	if err != nil {
		return nil, err
	}
	y, err := floatBinary(ctx, wx, ws,
		func(x, s float32) float32 {
			if x < 0 {
				return s * x
			}
			return x
		},
		func(x, s float64) float64 {
			if x < 0 {
				return s * x
			}
			return x
		})
	if err != nil {
		return nil, err
	}
	return one(narrowHalf(y, x.DType))
}

// preluGrad: dx = dy * (x >= 0 ? 1 : slope); dslope = sum of dy * min(x, 0)
// over the broadcast dims.
func preluGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	g := dout[0]
	if g == nil {
		return []*graph.Tensor{nil, nil}, nil
	}
	x, s := in[0], in[1]
	mask, err := gradBinary(x, s, func(x, s float32) float32 {
		if x < 0 {
			return s
		}
		return 1
	})
	if err != nil {
		return nil, err
	}
	dx, err := gradBinary(g, mask, func(a, b float32) float32 { return a * b })
	if err != nil {
		return nil, err
	}
	neg, err := gradBinary(g, x, func(g, x float32) float32 { return g * min(x, 0) })
	if err != nil {
		return nil, err
	}
	ds, err := Unbroadcast(neg, s.Shape)
	if err != nil {
		return nil, err
	}
	return []*graph.Tensor{dx, ds}, nil
}

// clipBounds returns Clip's bounds: attributes min/max before opset 11,
// optional scalar inputs 1 and 2 from 11 on. Missing bounds are infinite.
func clipBounds(ctx *Context, in []*graph.Tensor) (lo, hi float64, err error) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if ctx.Opset < 11 {
		lo = float64(ctx.Node.AttrFloat("min", -math.MaxFloat32))
		hi = float64(ctx.Node.AttrFloat("max", math.MaxFloat32))
		return lo, hi, nil
	}
	if t := optIn(in, 1); t != nil {
		if lo, err = ScalarFloat(t, "min"); err != nil {
			return 0, 0, err
		}
	}
	if t := optIn(in, 2); t != nil {
		if hi, err = ScalarFloat(t, "max"); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}

// clipKernel is Clip: y = min(max(x, lo), hi).
func clipKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	lo, hi, err := clipBounds(ctx, in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if src, ok := x.Data.([]float32); ok {
		l, h := float32(lo), float32(hi)
		dst := src
		if !ctx.Reusable(0) {
			dst = ctx.RawFloat32s(len(src)) // clip32 writes every element
		}
		ParallelFor(len(src), 1<<15, func(a, b int) { clip32(dst[a:b], src[a:b], l, h) })
		return one(f32out(x.Shape, dst))
	}
	fns := unaryFns{
		f: func(v float64) float64 { return math.Min(math.Max(v, lo), hi) },
		i: func(v int64) int64 {
			if float64(v) < lo {
				return int64(lo)
			}
			if float64(v) > hi {
				return int64(hi)
			}
			return v
		},
	}
	return oneErr(applyUnary(ctx, x, fns, false))
}

// clip32 writes src clamped to [lo, hi] into dst.
func clip32(dst, src []float32, lo, hi float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = min(max(v, lo), hi) // branch-free; keeps NaN
	}
}

// clipGrad passes the gradient where lo <= x <= hi.
func clipGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if dout[0] == nil || !isFloatTensor(in[0]) {
		return grads, nil
	}
	lo, hi, err := clipBounds(ctx, in)
	if err != nil {
		return nil, err
	}
	x, err := in[0].Float32s()
	if err != nil {
		return nil, err
	}
	g, err := dout[0].Float32s()
	if err != nil {
		return nil, err
	}
	dx := make([]float32, len(x))
	for i, v := range x {
		if float64(v) >= lo && float64(v) <= hi {
			dx[i] = g[i]
		}
	}
	grads[0] = f32out(in[0].Shape, dx)
	return grads, nil
}

func init() {
	Register(&Op{Type: "PRelu", MinOpset: 1, Forward: preluKernel, Backward: preluGrad})
	Register(&Op{Type: "Clip", MinOpset: 1, MaxOpset: 10, Forward: clipKernel, Backward: clipGrad})
	Register(&Op{Type: "Clip", MinOpset: 11, Forward: clipKernel, Backward: clipGrad})
}
