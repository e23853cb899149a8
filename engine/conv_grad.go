package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/graph"
)

// convBackward is the Gradient of Conv: dX, dW and (when the node has a
// bias) dB from dY.
func convBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	w, err := floatIn(in[1], "weight W")
	if err != nil {
		return nil, err
	}
	p, err := newConvPlan(ctx.Node, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != p.n*p.m*p.outP {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dout[0].Shape, nchwShape(p.n, p.m, p.outSpatial))
	}
	dx := make([]float32, len(x))
	dw := make([]float32, len(w))
	p.backward(x, w, dy, dx, dw)
	grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
	grads[1] = floatOut(in[1].DType, in[1].Shape, dw)
	if len(in) > 2 && in[2] != nil {
		grads[2] = floatOut(in[2].DType, in[2].Shape, sumChannels(dy, p.n, p.m, p.outP))
	}
	return grads, nil
}

// sumChannels returns, for a [N, M, P] tensor, the sum over N and P of
// every channel: the bias gradient.
func sumChannels(dy []float32, n, m, pos int) []float32 {
	db := make([]float32, m)
	for i := 0; i < n*m; i++ {
		var s float32
		for _, v := range dy[i*pos : (i+1)*pos] {
			s += v
		}
		db[i%m] += s
	}
	return db
}

// backward accumulates dx [N, C, inP] and dw [M, kdim] (both zeroed by the
// caller) from dy [N, M, P].
func (p *convPlan) backward(x, w, dy, dx, dw []float32) {
	p.backwardData(w, dy, dx)
	p.backwardWeights(x, dy, dw)
}

// backwardData accumulates into dx [N, C, inP] the gradient of the input
// for dy [N, M, P]: per (image, group, band) dcols = W[g]^T · dY_band,
// added back into dX by col2im. It is also ConvTranspose's forward pass.
func (p *convPlan) backwardData(w, dy, dx []float32) {
	switch {
	case p.depthwise():
		p.depthwiseBackwardData(w, dy, dx)
		return
	case p.pointwise():
		for n := 0; n < p.n; n++ {
			for g := 0; g < p.group; g++ {
				dxs := dx[(n*p.c+g*p.cg)*p.inP:]
				dys := dy[(n*p.m+g*p.mg)*p.outP:]
				gemm.Sgemm(true, false, p.cg, p.outP, p.mg, 1, w[g*p.mg*p.cg:], p.cg, dys, p.outP, 1, dxs, p.inP)
			}
		}
		return
	}
	dcols := getScratch(p.kdim * p.maxBandCols())
	defer putScratch(dcols)
	// W[g]^T is packed once for all images and bands.
	packed := make([]*gemm.PackedA, p.group)
	for g := range packed {
		packed[g] = gemm.PackA(true, p.kdim, p.mg, w[g*p.mg*p.kdim:], p.kdim)
	}
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			dxs := dx[(n*p.c+g*p.cg)*p.inP:][:p.cg*p.inP]
			for b := 0; b < p.bands(); b++ {
				p0, p1 := p.bandCols(b)
				nc := p1 - p0
				dys := dy[(n*p.m+g*p.mg)*p.outP+p0:]
				packed[g].Mul(nc, 1, dys, p.outP, 0, dcols, nc)
				p.col2imParallel(dcols[:p.kdim*nc], b, dxs)
			}
		}
	}
}

// backwardWeights accumulates into dw [M, kdim] the gradient of the
// weights for input x and dy: per (image, group, band)
// dW[g] += dY_band · cols^T.
func (p *convPlan) backwardWeights(x, dy, dw []float32) {
	switch {
	case p.depthwise():
		p.depthwiseBackwardWeights(x, dy, dw)
		return
	case p.pointwise():
		for n := 0; n < p.n; n++ {
			for g := 0; g < p.group; g++ {
				xs := x[(n*p.c+g*p.cg)*p.inP:]
				dys := dy[(n*p.m+g*p.mg)*p.outP:]
				gemm.Sgemm(false, true, p.mg, p.cg, p.outP, 1, dys, p.outP, xs, p.inP, 1, dw[g*p.mg*p.cg:], p.cg)
			}
		}
		return
	}
	cols := getScratch(p.kdim * p.maxBandCols())
	defer putScratch(cols)
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			xs := x[(n*p.c+g*p.cg)*p.inP:][:p.cg*p.inP]
			for b := 0; b < p.bands(); b++ {
				p0, p1 := p.bandCols(b)
				nc := p1 - p0
				dys := dy[(n*p.m+g*p.mg)*p.outP+p0:]
				p.im2colParallel(xs, b, cols[:p.kdim*nc])
				gemm.Sgemm(false, true, p.mg, p.kdim, nc, 1, dys, p.outP, cols, nc, 1, dw[g*p.mg*p.kdim:], p.kdim)
			}
		}
	}
}

// col2imParallel adds a band's columns into the group's input gradient,
// split over the engine's threads by channel (disjoint parts of dx).
func (p *convPlan) col2imParallel(cols []float32, b int, dx []float32) {
	nc := len(cols) / p.kdim
	ParallelFor(p.cg, max(1, (1<<14)/max(1, p.k*nc)), func(c0, c1 int) {
		p.col2im(cols[c0*p.k*nc:c1*p.k*nc], c0, c1, b, dx[c0*p.inP:c1*p.inP])
	})
}

// depthwiseBackwardData is the adjoint of depthwiseForward in the input:
// each thread owns a disjoint set of input channels of dx.
func (p *convPlan) depthwiseBackwardData(w, dy, dx []float32) {
	if q := p.adjointDepthwise(); q != nil {
		// dX is the stride-1 depthwise correlation of dY with the flipped
		// kernel: the forward kernel, on the adjoint geometry.
		wf := make([]float32, len(w))
		for m := 0; m < p.m; m++ {
			for t := 0; t < p.k; t++ {
				wf[m*p.k+t] = w[m*p.k+p.k-1-t]
			}
		}
		q.depthwiseForwardRows(dy, wf, dx)
		return
	}
	win, spans := p.win, p.depthwiseSpans()
	H, W := win.in[0], win.in[1]
	KH, KW := win.kernel[0], win.kernel[1]
	OH, OW := win.out[0], win.out[1]
	sh, sw := win.stride[0], win.stride[1]
	// dX: input channel ci collects from its mg output channels.
	ParallelFor(p.n*p.c, 4, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			n, ci := u/p.c, u%p.c
			dimg := dx[u*p.inP:][:p.inP]
			for m := ci * p.mg; m < (ci+1)*p.mg; m++ {
				g := dy[(n*p.m+m)*p.outP:][:p.outP]
				wk := w[m*p.k:][:p.k]
				for i := 0; i < KH; i++ {
					ih0 := i*win.dil[0] - win.padB[0]
					for oh := 0; oh < OH; oh++ {
						ih := oh*sh + ih0
						if ih < 0 || ih >= H {
							continue
						}
						drow := dimg[ih*W : (ih+1)*W]
						grow := g[oh*OW : (oh+1)*OW]
						for j, s := range spans {
							if s.c0 >= s.c1 {
								continue
							}
							wv := wk[i*KW+j]
							if sw == 1 {
								addScaled(wv, grow[s.c0:s.c1], drow[s.c0+s.iw0:s.c1+s.iw0])
							} else {
								for k := s.c0; k < s.c1; k++ {
									drow[k*sw+s.iw0] += wv * grow[k]
								}
							}
						}
					}
				}
			}
		}
	})
}

// depthwiseBackwardWeights is the adjoint of depthwiseForward in the
// weights: each thread owns a disjoint set of output channels of dw.
func (p *convPlan) depthwiseBackwardWeights(x, dy, dw []float32) {
	win, spans := p.win, p.depthwiseSpans()
	H, W := win.in[0], win.in[1]
	KH, KW := win.kernel[0], win.kernel[1]
	OH, OW := win.out[0], win.out[1]
	sh, sw := win.stride[0], win.stride[1]
	ParallelFor(p.m, 1, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			ci := m / p.mg
			dwk := dw[m*p.k:][:p.k]
			for n := 0; n < p.n; n++ {
				img := x[(n*p.c+ci)*p.inP:][:p.inP]
				g := dy[(n*p.m+m)*p.outP:][:p.outP]
				for i := 0; i < KH; i++ {
					ih0 := i*win.dil[0] - win.padB[0]
					for oh := 0; oh < OH; oh++ {
						ih := oh*sh + ih0
						if ih < 0 || ih >= H {
							continue
						}
						row := img[ih*W : (ih+1)*W]
						grow := g[oh*OW : (oh+1)*OW]
						for j, s := range spans {
							if s.c0 >= s.c1 {
								continue
							}
							var acc float32
							if sw == 1 {
								acc = dotRow(grow[s.c0:s.c1], row[s.c0+s.iw0:s.c1+s.iw0])
							} else {
								for k := s.c0; k < s.c1; k++ {
									acc += grow[k] * row[k*sw+s.iw0]
								}
							}
							dwk[i*KW+j] += acc
						}
					}
				}
			}
		}
	})
}

// adjointDepthwise returns the plan of the depthwise convolution that
// computes this one's input gradient, when there is one: stride 1, one
// output channel per input channel, and padding no larger than the
// kernel's extent. Its input is dY, its output dX; with pad p and extent
// e = (k-1)·dil+1, its padding is e-1-p at the start.
func (p *convPlan) adjointDepthwise() *convPlan {
	w := p.win
	if p.mg != 1 || w.stride[0] != 1 || w.stride[1] != 1 {
		return nil
	}
	q := *p
	q.win = &window{in: w.out, out: w.in, kernel: w.kernel, stride: w.stride, dil: w.dil, padB: make([]int, 2), padE: make([]int, 2)}
	for d := 0; d < 2; d++ {
		q.win.padB[d] = (w.kernel[d]-1)*w.dil[d] - w.padB[d]
		if q.win.padB[d] < 0 {
			return nil
		}
	}
	q.inP, q.outP = p.outP, p.inP
	return &q
}

// colSpan is, for one kernel column j of a 2-D window, the output
// columns [c0, c1) whose input column k*stride + iw0 lies inside the image.
type colSpan struct{ c0, c1, iw0 int }

// depthwiseSpans returns the colSpan of every kernel column.
func (p *convPlan) depthwiseSpans() []colSpan {
	spans := make([]colSpan, p.win.kernel[1])
	for j := range spans {
		spans[j].c0, spans[j].c1, spans[j].iw0 = colRange(p.win, j)
	}
	return spans
}
