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

// poolWindows lists the input offsets (within a plane) of every output
// position's window: those of output o are offs[start[o]:start[o+1]].
// padded[o] is its tap count inside the padded extent.
type poolWindows struct {
	offs, start []int32
	padded      []int
}

// window returns the offsets of output o's window.
func (w *poolWindows) window(o int) []int32 { return w.offs[w.start[o]:w.start[o+1]] }

// windows computes the windows of one plane (the same for every plane).
func (p *poolPlan) windows() *poolWindows {
	r := p.win.rank()
	w := &poolWindows{start: make([]int32, p.outP+1), padded: make([]int, p.outP)}
	idx := make([]int, r)
	var gather func(d, base int)
	gather = func(d, base int) {
		if d == r {
			w.offs = append(w.offs, int32(base))
			return
		}
		for _, v := range p.taps[d][idx[d]] {
			gather(d+1, base*p.win.in[d]+v)
		}
	}
	for o := 0; o < p.outP; o++ {
		gather(0, 0)
		w.start[o+1] = int32(len(w.offs))
		w.padded[o] = 1
		for d := 0; d < r; d++ {
			w.padded[o] *= p.padded[d][idx[d]]
		}
		odometer(idx, p.win.out)
	}
	return w
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
	var arg []int32
	wantIdx := len(ctx.Node.Outputs) > 1 && ctx.Node.Outputs[1] != nil
	if wantIdx {
		arg = make([]int32, p.planes*p.outP)
	}
	p.maxPool(x, y, arg)
	outs := []*graph.Tensor{wrap(p.shape, y)}
	if wantIdx {
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

// maxPool fills y with the window maxima and, unless arg is nil, arg with
// their offsets in the plane: the first element of the window (in window
// order) equal to the maximum, or the window's first element when none is
// (a NaN maximum); -1 for a window that reads no input element. The
// maxima are taken without branches and the offsets found by an equality
// scan, because a running argmax mispredicts a branch on random data.
func (p *poolPlan) maxPool(x, y []float32, arg []int32) {
	var win *poolWindows
	if p.win.rank() != 2 {
		win = p.windows()
	}
	ParallelFor(p.planes, 1, func(lo, hi int) {
		var rowMax, tmp []float32
		if win == nil {
			rowMax, tmp = make([]float32, p.win.in[0]*p.win.out[1]), make([]float32, p.win.in[1])
		}
		for c := lo; c < hi; c++ {
			plane, ys := x[c*p.inP:(c+1)*p.inP], y[c*p.outP:(c+1)*p.outP]
			if win == nil {
				p.maxPool2DSeparable(plane, ys, rowMax, tmp)
			} else {
				for o := range ys {
					best := float32(math.Inf(-1))
					for _, v := range win.window(o) {
						best = max(best, plane[v])
					}
					ys[o] = best
				}
			}
			if arg == nil {
				continue
			}
			args := arg[c*p.outP : (c+1)*p.outP]
			if win == nil {
				p.argMax2D(plane, ys, args)
				continue
			}
			for o := range ys {
				w := win.window(o)
				at := int32(-1)
				if len(w) > 0 {
					at = w[0]
				}
				for _, v := range w {
					if plane[v] == ys[o] {
						at = v
						break
					}
				}
				args[o] = at
			}
		}
	})
}

// maxPool2DSeparable is the maximum over 2-D windows as two passes of
// long, branch-free loops: rowMax[r, ow] is the maximum over the window's
// columns in input row r, and each output the maximum of rowMax over the
// window's rows. A window that is not empty always holds a real element,
// so padding never enters; an empty one gives -Inf.
func (p *poolPlan) maxPool2DSeparable(plane, ys, rowMax, tmp []float32) {
	W, OW := p.win.in[1], p.win.out[1]
	s, K, dil := p.win.stride[1], p.win.kernel[1], p.win.dil[1]
	// Output columns [lo, hi) have every tap inside the row.
	lo, hi := divCeil(p.win.padB[1], s), 0
	if last := W - 1 - (K-1)*dil + p.win.padB[1]; last >= 0 {
		hi = last/s + 1
	}
	lo, hi = min(lo, OW), max(min(hi, OW), min(lo, OW))
	negInf := float32(math.Inf(-1))
	for r := 0; r < p.win.in[0]; r++ {
		row, hm := plane[r*W:(r+1)*W], rowMax[r*OW:(r+1)*OW]
		for ow, cols := range p.taps[1] {
			if ow >= lo && ow < hi {
				continue
			}
			m := negInf
			for _, c := range cols {
				m = max(m, row[c])
			}
			hm[ow] = m
		}
		if hi <= lo {
			continue
		}
		// Interior: the maximum over taps k of row[base + k*dil + i*s].
		// With stride 1 that is a running vector maximum of shifted
		// slices; otherwise the maximum at full resolution (vector), then
		// every s-th element.
		inner := hm[lo:hi]
		base := lo*s - p.win.padB[1]
		full := inner
		if s > 1 {
			full = tmp[:(len(inner)-1)*s+1]
		}
		copy(full, row[base:base+len(full)])
		for k := 1; k < K; k++ {
			maxInto(full, row[base+k*dil:])
		}
		if s > 1 {
			for i := range inner {
				inner[i] = full[i*s]
			}
		}
	}
	for oh, rows := range p.taps[0] {
		out := ys[oh*OW : (oh+1)*OW]
		if len(rows) == 0 {
			for i := range out {
				out[i] = negInf
			}
			continue
		}
		copy(out, rowMax[rows[0]*OW:(rows[0]+1)*OW])
		for _, r := range rows[1:] {
			maxInto(out, rowMax[r*OW:(r+1)*OW])
		}
	}
}

// argMax2D finds, for every window of a 2-D pooling, the offset of the
// first element equal to its maximum ys (see maxPool).
func (p *poolPlan) argMax2D(plane, ys []float32, args []int32) {
	W, OW := p.win.in[1], p.win.out[1]
	for oh, rows := range p.taps[0] {
		for ow, cols := range p.taps[1] {
			target, at := ys[oh*OW+ow], -1
			if len(rows) > 0 && len(cols) > 0 {
				at = rows[0]*W + cols[0]
			}
		search:
			for _, r := range rows {
				row := plane[r*W : (r+1)*W]
				for _, c := range cols {
					if row[c] == target {
						at = r*W + c
						break search
					}
				}
			}
			args[oh*OW+ow] = int32(at)
		}
	}
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
func avgDivisors(n *graph.Node, win *poolWindows) []float32 {
	include := n.AttrInt("count_include_pad", 0) != 0
	div := make([]float32, len(win.padded))
	for o := range div {
		if include {
			div[o] = float32(win.padded[o])
		} else {
			div[o] = float32(len(win.window(o)))
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
	win := p.windows()
	div := avgDivisors(ctx.Node, win)
	y := make([]float32, p.planes*p.outP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*p.inP : (c+1)*p.inP]
			for o := range div {
				var s float32
				for _, v := range win.window(o) {
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
	win := p.windows()
	div := avgDivisors(ctx.Node, win)
	dx := make([]float32, p.planes*p.inP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := dx[c*p.inP : (c+1)*p.inP]
			for o := range div {
				if div[o] == 0 {
					continue
				}
				g := dy[c*p.outP+o] / div[o]
				for _, v := range win.window(o) {
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
	win := p.windows()
	y := make([]float32, p.planes*p.outP)
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane := x[c*p.inP : (c+1)*p.inP]
			for o := 0; o < p.outP; o++ {
				y[c*p.outP+o] = float32(lpNorm(plane, win.window(o), pw))
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, p.shape, y)}, nil
}

func lpNorm(plane []float32, w []int32, pw float64) float64 {
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
	win := p.windows()
	dx := make([]float32, len(x))
	ParallelFor(p.planes, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			plane, dplane := x[c*p.inP:(c+1)*p.inP], dx[c*p.inP:(c+1)*p.inP]
			for o := 0; o < p.outP; o++ {
				w := win.window(o)
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
