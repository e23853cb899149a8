package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "GlobalAveragePool", MinOpset: 1, Forward: globalAvgPoolForward, Backward: globalAvgPoolBackward})
	Register(&Op{Type: "GlobalMaxPool", MinOpset: 1, Forward: globalMaxPoolForward, Backward: globalMaxPoolBackward})
	Register(&Op{Type: "GlobalLpPool", MinOpset: 2, Forward: globalLpPoolForward})
}

// globalPlanes splits X [N, C, D...] into N·C planes of P elements and
// returns the output shape [N, C, 1, ...].
func globalPlanes(t *graph.Tensor) (planes, size int, shape []int64, err error) {
	if t == nil {
		return 0, 0, nil, fmt.Errorf("input X is missing")
	}
	if len(t.Shape) < 2 {
		return 0, 0, nil, fmt.Errorf("input X must have shape N×C×..., got %v", t.Shape)
	}
	shape = make([]int64, len(t.Shape))
	copy(shape, t.Shape[:2])
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	planes = int(t.Shape[0] * t.Shape[1])
	size = volume64(t.Shape[2:])
	return planes, size, shape, nil
}

// globalReduce applies fn to every plane of X.
func globalReduce(t *graph.Tensor, fn func(plane []float32) float32) ([]*graph.Tensor, error) {
	x, err := floatIn(t, "input X")
	if err != nil {
		return nil, err
	}
	planes, size, shape, err := globalPlanes(t)
	if err != nil {
		return nil, err
	}
	y := make([]float32, planes)
	ParallelFor(planes, max(1, 4096/max(1, size)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			y[c] = fn(x[c*size : (c+1)*size])
		}
	})
	return []*graph.Tensor{floatOut(t.DType, shape, y)}, nil
}

func globalAvgPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	return globalReduce(in[0], func(p []float32) float32 {
		var s float32
		for _, v := range p {
			s += v
		}
		return s / float32(len(p))
	})
}

func globalMaxPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	return globalReduce(in[0], func(p []float32) float32 {
		best := float32(math.Inf(-1))
		for _, v := range p {
			best = max(best, v)
		}
		return best
	})
}

func globalLpPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	pw := float64(ctx.Node.AttrInt("p", 2))
	return globalReduce(in[0], func(p []float32) float32 {
		var s float64
		for _, v := range p {
			s += math.Pow(math.Abs(float64(v)), pw)
		}
		return float32(math.Pow(s, 1/pw))
	})
}

// globalGrad returns X, dY and the plane geometry for a global pool's
// gradient.
func globalGrad(in, dout []*graph.Tensor) (x, dy []float32, planes, size int, err error) {
	if x, err = floatIn(in[0], "input X"); err != nil {
		return
	}
	if planes, size, _, err = globalPlanes(in[0]); err != nil {
		return
	}
	if dy, err = floatIn(dout[0], "gradient of Y"); err != nil {
		return
	}
	if len(dy) != planes {
		err = fmt.Errorf("gradient of Y has %d elements, want %d", len(dy), planes)
	}
	return
}

// globalAvgPoolBackward spreads dY/P over each plane.
func globalAvgPoolBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return []*graph.Tensor{nil}, nil
	}
	x, dy, planes, size, err := globalGrad(in, dout)
	if err != nil {
		return nil, err
	}
	dx := make([]float32, len(x))
	for c := 0; c < planes; c++ {
		g := dy[c] / float32(size)
		row := dx[c*size : (c+1)*size]
		for i := range row {
			row[i] = g
		}
	}
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, dx)}, nil
}

// globalMaxPoolBackward routes dY to the first maximum of each plane.
func globalMaxPoolBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return []*graph.Tensor{nil}, nil
	}
	x, dy, planes, size, err := globalGrad(in, dout)
	if err != nil {
		return nil, err
	}
	dx := make([]float32, len(x))
	for c := 0; c < planes; c++ {
		p := x[c*size : (c+1)*size]
		at := 0
		for i, v := range p {
			if v > p[at] {
				at = i
			}
		}
		dx[c*size+at] = dy[c]
	}
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, dx)}, nil
}
