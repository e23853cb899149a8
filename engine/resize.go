package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// Resize's inputs and attributes changed across opsets: 10 takes (X,
// scales) with asymmetric coordinates and ONNX Runtime's simple nearest
// rounding; 11-12 take (X, roi, scales, sizes) with
// coordinate_transformation_mode, nearest_mode and cubic; 13-17 make roi
// and scales optional; 18+ add axes, keep_aspect_ratio_policy and
// antialias (refused for linear/cubic) and 19 half_pixel_symmetric.
func init() {
	for _, r := range [][2]int64{{10, 10}, {11, 12}, {13, 17}, {18, 0}} {
		Register(&Op{Type: "Resize", MinOpset: r[0], MaxOpset: r[1], Forward: resizeForward, Backward: resizeBackward, Check: checkResize(r[0])})
	}
}

func checkResize(opset int64) func(*graph.Node) error {
	return func(n *graph.Node) error {
		_, err := readResizeAttrs(n, opset)
		return err
	}
}

// planKernels returns the forward and backward kernels of an operator
// that resizes by a plan (Resize, Upsample): newPlan reads the plan from
// the node and its inputs.
func planKernels(newPlan func(*Context, []*graph.Tensor) (*resizePlan, error)) (Kernel, Gradient) {
	forward := func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		p, err := newPlan(ctx, in)
		if err != nil {
			return nil, err
		}
		t, err := p.apply(in[0])
		if err != nil {
			return nil, err
		}
		return []*graph.Tensor{t}, nil
	}
	backward := func(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		grads := make([]*graph.Tensor, len(in))
		if len(dout) == 0 || dout[0] == nil {
			return grads, nil
		}
		p, err := newPlan(ctx, in)
		if err != nil {
			return nil, err
		}
		dx, err := p.adjoint(dout[0])
		if err != nil {
			return nil, err
		}
		grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
		return grads, nil
	}
	return forward, backward
}

var resizeForward, resizeBackward = planKernels(newResizePlan)

// apply resizes x: nearest by an index map for any element type, linear
// and cubic by separable float passes, one per resized axis.
func (p *resizePlan) apply(x *graph.Tensor) (*graph.Tensor, error) {
	if p.attrs.mode == "nearest" {
		pp := &padPlan{in: intDims(p.inShape), out: intDims(p.outShape), value: float64(p.attrs.extrapolate)}
		for d, ax := range p.axes {
			pp.src = append(pp.src, make([]int, pp.out[d]))
			for j := range pp.src[d] {
				switch {
				case ax == nil:
					pp.src[d][j] = j
				case ax.outside[j]:
					pp.src[d][j] = -1
				default:
					pp.src[d][j] = ax.idx[j]
				}
			}
		}
		return padData(pp, x)
	}
	xf, err := floatIn(x, "input X")
	if err != nil {
		return nil, err
	}
	dims := intDims(p.inShape)
	cur := xf
	for _, d := range p.passOrder() {
		ax := p.axes[d]
		cur = resizePass(cur, dims, d, ax)
		dims[d] = ax.out
	}
	if cur == nil || &cur[0] == &xf[0] && len(cur) > 0 {
		cur = append([]float32(nil), xf...)
	}
	p.eachOutside(func(i int) { cur[i] = p.attrs.extrapolate })
	return floatOut(x.DType, p.outShape, cur), nil
}

// adjoint returns the gradient of the input for the output gradient dy:
// the transposed passes in reverse order (extrapolated outputs carry no
// gradient).
func (p *resizePlan) adjoint(dyT *graph.Tensor) ([]float32, error) {
	dy, err := floatIn(dyT, "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != volume64(p.outShape) {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dyT.Shape, p.outShape)
	}
	cur := append([]float32(nil), dy...)
	p.eachOutside(func(i int) { cur[i] = 0 })
	dims := intDims(p.outShape)
	order := p.passOrder()
	for i := len(order) - 1; i >= 0; i-- {
		d := order[i]
		ax := p.axes[d]
		cur = resizePassT(cur, dims, d, ax)
		dims[d] = ax.in
	}
	return cur, nil
}

// passOrder lists the resized axes in the order the passes run: the last
// axis first (its pass is scalar, the others add whole rows, so it is
// cheapest on the smaller tensor), then the others in order.
func (p *resizePlan) passOrder() []int {
	var order []int
	last := len(p.axes) - 1
	if last >= 0 && p.axes[last] != nil {
		order = append(order, last)
	}
	for d := 0; d < last; d++ {
		if p.axes[d] != nil {
			order = append(order, d)
		}
	}
	return order
}

// eachOutside calls fn with the flat index of every output element that
// an axis marks as outside the crop (tf_crop_and_resize).
func (p *resizePlan) eachOutside(fn func(i int)) {
	any := false
	for _, ax := range p.axes {
		for _, o := range axOutside(ax) {
			any = any || o
		}
	}
	if !any {
		return
	}
	dims := intDims(p.outShape)
	idx := make([]int, len(dims))
	for i := 0; i < volume(dims); i++ {
		for d, ax := range p.axes {
			if ax != nil && ax.outside[idx[d]] {
				fn(i)
				break
			}
		}
		odometer(idx, dims)
	}
}

func axOutside(ax *resizeAxis) []bool {
	if ax == nil {
		return nil
	}
	return ax.outside
}

func intDims(s []int64) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

// resizePass interpolates src (shape dims) along axis d.
func resizePass(src []float32, dims []int, d int, ax *resizeAxis) []float32 {
	outer, inner := volume(dims[:d]), volume(dims[d+1:])
	dst := make([]float32, outer*ax.out*inner)
	if inner == 1 {
		ParallelFor(outer, max(1, 4096/max(1, ax.out*ax.taps)), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				s, row := src[o*ax.in:(o+1)*ax.in], dst[o*ax.out:(o+1)*ax.out]
				for j := range row {
					var acc float32
					for t, i := range ax.idx[j*ax.taps : (j+1)*ax.taps] {
						acc += ax.w[j*ax.taps+t] * s[i]
					}
					row[j] = acc
				}
			}
		})
		return dst
	}
	ParallelFor(outer*ax.out, max(1, 4096/max(1, inner*ax.taps)), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, j := u/ax.out, u%ax.out
			row := dst[u*inner : (u+1)*inner]
			for t := 0; t < ax.taps; t++ {
				w := ax.w[j*ax.taps+t]
				if w == 0 {
					continue
				}
				addScaled(w, src[(o*ax.in+ax.idx[j*ax.taps+t])*inner:][:inner], row)
			}
		}
	})
	return dst
}

// resizePassT is the transpose of resizePass: it adds every output row,
// weighted, back into the input rows it was read from.
func resizePassT(dst []float32, dims []int, d int, ax *resizeAxis) []float32 {
	outer, inner := volume(dims[:d]), volume(dims[d+1:])
	src := make([]float32, outer*ax.in*inner)
	ParallelFor(outer, max(1, 4096/max(1, ax.out*inner*ax.taps)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			for j := 0; j < ax.out; j++ {
				g := dst[(o*ax.out+j)*inner:][:inner]
				for t := 0; t < ax.taps; t++ {
					w := ax.w[j*ax.taps+t]
					if w == 0 {
						continue
					}
					addScaled(w, g, src[(o*ax.in+ax.idx[j*ax.taps+t])*inner:][:inner])
				}
			}
		}
	})
	return src
}
