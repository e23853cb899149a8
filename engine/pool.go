package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// A single registry entry per pooling op covers every opset: later opsets
// only added attributes (storage_order and the Indices output in 8,
// ceil_mode and dilations in 10 (19 for AveragePool), int8/uint8 in 12),
// whose defaults give the older behaviour.
func init() {
	Register(&Op{Type: "MaxPool", MinOpset: 1, Forward: maxPoolForward, Backward: maxPoolBackward, Check: checkPool})
	Register(&Op{Type: "AveragePool", MinOpset: 1, Forward: avgPoolForward, Backward: avgPoolBackward, Check: checkPool})
	Register(&Op{Type: "LpPool", MinOpset: 1, Forward: lpPoolForward, Backward: lpPoolBackward, Check: checkPool})
}

// poolPlan is a pooling window over the planes (N·C of them) of an input
// [N, C, D...]. taps[d][o] lists the input positions along dim d that the
// window at output position o reads (those inside the input); padded[d][o]
// counts its taps inside the padded extent [-padB, in+padE), the divisor
// of AveragePool with count_include_pad.
type poolPlan struct {
	planes int
	win    *window
	inP    int
	outP   int
	taps   [][][]int
	padded [][]int
	shape  []int64 // output shape
}

// checkPool is the Check of the pooling ops.
func checkPool(n *graph.Node) error {
	a, err := readWindowAttrs(n)
	if err != nil {
		return err
	}
	if a.kernel == nil {
		return fmt.Errorf("kernel_shape is required")
	}
	if so := n.AttrInt("storage_order", 0); so != 0 && so != 1 {
		return fmt.Errorf("storage_order %d must be 0 or 1", so)
	}
	return nil
}

func newPoolPlan(n *graph.Node, xShape []int64) (*poolPlan, error) {
	a, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	in, err := spatialDims(xShape, "input X")
	if err != nil {
		return nil, err
	}
	if len(a.kernel) != len(in) {
		return nil, fmt.Errorf("kernel_shape %v has %d entries for input of shape %v", a.kernel, len(a.kernel), xShape)
	}
	kernel := make([]int, len(in))
	for i, k := range a.kernel {
		kernel[i] = int(k)
	}
	win, err := a.forwardWindow(in, kernel)
	if err != nil {
		return nil, err
	}
	p := &poolPlan{planes: int(xShape[0] * xShape[1]), win: win, inP: win.inSize(), outP: win.outSize()}
	p.shape = nchwShape(int(xShape[0]), int(xShape[1]), win.out)
	for d := range in {
		taps := make([][]int, win.out[d])
		padded := make([]int, win.out[d])
		for o := range taps {
			for k := 0; k < win.kernel[d]; k++ {
				v := o*win.stride[d] - win.padB[d] + k*win.dil[d]
				if v >= 0 && v < win.in[d] {
					taps[o] = append(taps[o], v)
				}
				if v < win.in[d]+win.padE[d] {
					padded[o]++
				}
			}
		}
		p.taps = append(p.taps, taps)
		p.padded = append(p.padded, padded)
	}
	return p, nil
}

// each calls fn for every output position of one plane with the input
// offsets (within the plane) its window reads and its padded tap count.
// offs is reused between calls.
func (p *poolPlan) each(fn func(o int, offs []int, padded int)) {
	r := p.win.rank()
	idx := make([]int, r)
	var offs []int
	for o := 0; o < p.outP; o++ {
		offs = offs[:0]
		offs = p.gather(idx, 0, 0, offs)
		padded := 1
		for d := 0; d < r; d++ {
			padded *= p.padded[d][idx[d]]
		}
		fn(o, offs, padded)
		odometer(idx, p.win.out)
	}
}

// gather appends the offsets of the window at output multi-index idx,
// dims d and beyond, to offs (base is the offset of dims before d).
func (p *poolPlan) gather(idx []int, d, base int, offs []int) []int {
	if d == len(idx) {
		return append(offs, base)
	}
	for _, v := range p.taps[d][idx[d]] {
		offs = p.gather(idx, d+1, base*p.win.in[d]+v, offs)
	}
	return offs
}

// windows returns, per output position of a plane, the input offsets of
// its window and its padded tap count, computed once per call.
func (p *poolPlan) windows() ([][]int, []int) {
	offs := make([][]int, p.outP)
	padded := make([]int, p.outP)
	p.each(func(o int, w []int, n int) {
		offs[o] = append([]int(nil), w...)
		padded[o] = n
	})
	return offs, padded
}

// poolInput reads X as float32 (int8 and uint8 values are exact) and
// returns a function that converts a float32 result back to X's type.
func poolInput(t *graph.Tensor) ([]float32, func([]int64, []float32) *graph.Tensor, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("input X is missing")
	}
	switch t.DType {
	case graph.Int8, graph.Uint8:
		x, err := t.Float32s()
		if err != nil {
			return nil, nil, err
		}
		dt := t.DType
		return x, func(shape []int64, y []float32) *graph.Tensor {
			out := graph.Zeros(dt, shape)
			switch d := out.Data.(type) {
			case []int8:
				for i, v := range y {
					d[i] = int8(v)
				}
			case []uint8:
				for i, v := range y {
					d[i] = uint8(v)
				}
			}
			return out
		}, nil
	}
	x, err := floatIn(t, "input X")
	if err != nil {
		return nil, nil, err
	}
	dt := t.DType
	return x, func(shape []int64, y []float32) *graph.Tensor { return floatOut(dt, shape, y) }, nil
}

// maxPoolForward computes MaxPool and, when the node asks for it, the
// Indices output: the flat index into X of each maximum (with
// storage_order 1, of X with its last two dims swapped), the first one in
// window order on ties.
func maxPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("MaxPool needs input X")
	}
	x, wrap, err := poolInput(in[0])
	if err != nil {
		return nil, err
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	y := make([]float32, p.planes*p.outP)
	arg := make([]int32, p.planes*p.outP)
	p.maxPool(x, y, arg)
	outs := []*graph.Tensor{wrap(p.shape, y)}
	if len(ctx.Node.Outputs) > 1 && ctx.Node.Outputs[1] != nil {
		colMajor := ctx.Node.AttrInt("storage_order", 0) == 1
		idx := make([]int64, len(arg))
		r := p.win.rank()
		for i, a := range arg {
			plane := i / p.outP
			off := int64(a)
			if colMajor && r >= 2 {
				// Swap the last two spatial dims of the in-plane offset.
				h, w := p.win.in[r-2], p.win.in[r-1]
				hi, wi := int(a)/w%h, int(a)%w
				off = int64(int(a) - (hi*w + wi) + wi*h + hi)
			}
			idx[i] = int64(plane*p.inP) + off
		}
		outs = append(outs, graph.MustTensor(graph.Int64, p.shape, idx))
	}
	return outs, nil
}

// maxPool fills y with the window maxima and arg with their offsets in the
// plane (-1 for a window that reads no input element).
func (p *poolPlan) maxPool(x, y []float32, arg []int32) {
	offs, _ := p.windows()
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*p.inP : (c+1)*p.inP]
			for o, w := range offs {
				best, at := float32(math.Inf(-1)), int32(-1)
				for _, v := range w {
					if xv := plane[v]; xv > best || at < 0 {
						best, at = xv, int32(v)
					}
				}
				y[c*p.outP+o], arg[c*p.outP+o] = best, at
			}
		}
	})
}

// maxPoolBackward routes each output gradient to its window's maximum.
func maxPoolBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return []*graph.Tensor{nil}, nil
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := poolGrad(dout[0], p)
	if err != nil {
		return nil, err
	}
	y := make([]float32, p.planes*p.outP)
	arg := make([]int32, p.planes*p.outP)
	p.maxPool(x, y, arg)
	dx := make([]float32, len(x))
	for i, a := range arg {
		if a >= 0 {
			dx[(i/p.outP)*p.inP+int(a)] += dy[i]
		}
	}
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, dx)}, nil
}

func poolGrad(t *graph.Tensor, p *poolPlan) ([]float32, error) {
	dy, err := floatIn(t, "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != p.planes*p.outP {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", t.Shape, p.shape)
	}
	return dy, nil
}

// avgDivisors returns each window's divisor: its taps inside the input, or
// with count_include_pad those inside the padded extent.
func avgDivisors(n *graph.Node, offs [][]int, padded []int) []float32 {
	include := n.AttrInt("count_include_pad", 0) != 0
	div := make([]float32, len(offs))
	for o, w := range offs {
		if include {
			div[o] = float32(padded[o])
		} else {
			div[o] = float32(len(w))
		}
	}
	return div
}

// avgPoolForward computes AveragePool.
func avgPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("AveragePool needs input X")
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	offs, padded := p.windows()
	div := avgDivisors(ctx.Node, offs, padded)
	y := make([]float32, p.planes*p.outP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*p.inP : (c+1)*p.inP]
			for o, w := range offs {
				var s float32
				for _, v := range w {
					s += plane[v]
				}
				if div[o] > 0 {
					s /= div[o]
				}
				y[c*p.outP+o] = s
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, p.shape, y)}, nil
}

// avgPoolBackward spreads each output gradient evenly over its window.
func avgPoolBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return []*graph.Tensor{nil}, nil
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := poolGrad(dout[0], p)
	if err != nil {
		return nil, err
	}
	offs, padded := p.windows()
	div := avgDivisors(ctx.Node, offs, padded)
	dx := make([]float32, p.planes*p.inP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := dx[c*p.inP : (c+1)*p.inP]
			for o, w := range offs {
				if div[o] == 0 {
					continue
				}
				g := dy[c*p.outP+o] / div[o]
				for _, v := range w {
					plane[v] += g
				}
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, dx)}, nil
}

// lpPoolForward computes LpPool: (Σ |x|^p)^(1/p) over each window (the
// padding contributes zeros).
func lpPoolForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("LpPool needs input X")
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	pw := float64(ctx.Node.AttrInt("p", 2))
	offs, _ := p.windows()
	y := make([]float32, p.planes*p.outP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*p.inP : (c+1)*p.inP]
			for o, w := range offs {
				y[c*p.outP+o] = float32(lpNorm(plane, w, pw))
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, p.shape, y)}, nil
}

func lpNorm(plane []float32, w []int, pw float64) float64 {
	var s float64
	for _, v := range w {
		s += math.Pow(math.Abs(float64(plane[v])), pw)
	}
	return math.Pow(s, 1/pw)
}

// lpPoolBackward: d/dx (Σ|x|^p)^(1/p) = sign(x)·|x|^(p-1)·y^(1-p).
func lpPoolBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return []*graph.Tensor{nil}, nil
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	p, err := newPoolPlan(ctx.Node, in[0].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := poolGrad(dout[0], p)
	if err != nil {
		return nil, err
	}
	pw := float64(ctx.Node.AttrInt("p", 2))
	offs, _ := p.windows()
	dx := make([]float32, len(x))
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane, dplane := x[c*p.inP:(c+1)*p.inP], dx[c*p.inP:(c+1)*p.inP]
			for o, w := range offs {
				y := lpNorm(plane, w, pw)
				if y == 0 {
					continue
				}
				g := float64(dy[c*p.outP+o]) * math.Pow(y, 1-pw)
				for _, v := range w {
					if xv := float64(plane[v]); xv != 0 { // 0 is the subgradient at the kink
						dplane[v] += float32(g * math.Copysign(math.Pow(math.Abs(xv), pw-1), xv))
					}
				}
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, dx)}, nil
}
