package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "Conv", MinOpset: 1, Forward: convForward, Backward: convBackward, Check: checkConv})
}

// convForward computes Conv: Y = conv(X, W) + B for 1-D, 2-D and N-D
// inputs, with groups, strides, dilations and padding.
func convForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Conv needs inputs X and W")
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	w, err := floatIn(in[1], "weight W")
	if err != nil {
		return nil, err
	}
	bias, err := optFloatIn(in, 2, "bias B")
	if err != nil {
		return nil, err
	}
	p, err := newConvPlan(ctx.Node, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	if bias != nil && len(bias) != p.m {
		return nil, fmt.Errorf("bias B has %d elements, want %d (output channels)", len(bias), p.m)
	}
	y := ctx.Float32s(p.n * p.m * p.outP) // zeroed, from the run's recycled buffers
	p.forward(x, w, bias, y)
	return []*graph.Tensor{floatOut(in[0].DType, nchwShape(p.n, p.m, p.outSpatial), y)}, nil
}

// forward computes y [N, M, P] from x [N, C, inP], w [M, kdim] and an
// optional bias [M].
func (p *convPlan) forward(x, w, bias, y []float32) {
	beta := float32(0)
	if bias != nil {
		beta = 1
		for i := 0; i < p.n*p.m; i++ {
			fillF32(y[i*p.outP:(i+1)*p.outP], bias[i%p.m])
		}
	}
	switch {
	case p.depthwise():
		p.depthwiseForward(x, w, y)
	case p.pointwise():
		p.pointwiseForward(x, w, beta, y)
	case p.shifted():
		p.shiftedForward(x, w, beta, y)
	default:
		p.gemmForward(x, w, beta, y)
	}
}

// gemmForward runs im2col + one GEMM per (image, group, row band). The
// im2col of a band is split over the engine's threads by channel, and the
// GEMM parallelizes itself (gemm.SetThreads), so the steps never nest.
func (p *convPlan) gemmForward(x, w []float32, beta float32, y []float32) {
	cols := getScratch(p.kdim * p.maxBandCols())
	defer putScratch(cols)
	// Each group's weights are packed once for all images and bands.
	packed := make([]*gemm.PackedA, p.group)
	for g := range packed {
		packed[g] = gemm.PackA(false, p.mg, p.kdim, w[g*p.mg*p.kdim:], p.kdim)
	}
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			xs := x[(n*p.c+g*p.cg)*p.inP:][:p.cg*p.inP]
			for b := 0; b < p.bands(); b++ {
				p0, p1 := p.bandCols(b)
				nc := p1 - p0
				p.im2colParallel(xs, b, cols[:p.kdim*nc])
				packed[g].Mul(nc, 1, cols, nc, beta, y[(n*p.m+g*p.mg)*p.outP+p0:], p.outP)
			}
		}
	}
}

// pointwiseForward computes a 1×1 stride-1 unpadded convolution as
// Y[n, g] = W[g] · X[n, g]: the input is its own column matrix.
func (p *convPlan) pointwiseForward(x, w []float32, beta float32, y []float32) {
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			xs := x[(n*p.c+g*p.cg)*p.inP:]
			ys := y[(n*p.m+g*p.mg)*p.outP:]
			gemm.Sgemm(false, false, p.mg, p.outP, p.cg, 1, w[g*p.mg*p.cg:], p.cg, xs, p.inP, beta, ys, p.outP)
		}
	}
}

// depthwiseForward computes a convolution with one input channel per
// group directly: every output row is one depthwiseRow pass per column
// phase (see depthwiseForwardRows and depthwiseForwardStrided). y already
// holds the bias (or zeros).
func (p *convPlan) depthwiseForward(x, w, y []float32) {
	if p.win.stride[1] == 1 {
		p.depthwiseForwardRows(x, w, y)
		return
	}
	p.depthwiseForwardStrided(x, w, y)
}

// depthwiseForwardStrided is depthwiseForward for a column stride s > 1.
// The input plane, zero-padded on the left (and right), is split into s
// column phases; output column ow, tap j reads padded column ow·s + j·dw,
// which is element ow + (j·dw)/s of phase (j·dw) mod s. The taps of one
// phase are evenly spaced in it, so each phase is one depthwiseRow pass
// with its share of the kernel.
func (p *convPlan) depthwiseForwardStrided(x, w, y []float32) {
	win := p.win
	H, W := win.in[0], win.in[1]
	KH, KW := win.kernel[0], win.kernel[1]
	OH, OW := win.out[0], win.out[1]
	sh, sw, dh, dw, padL := win.stride[0], win.stride[1], win.dil[0], win.dil[1], win.padB[1]
	wp := max(W+padL, (OW-1)*sw+(KW-1)*dw+1)
	// Per phase: its taps j (evenly spaced: first offset t0, step dil).
	type phaseTaps struct {
		q, t0, step int
		js          []int
	}
	var phs []phaseTaps
	for q := 0; q < sw; q++ {
		pt := phaseTaps{q: q}
		for j := 0; j < KW; j++ {
			if (j*dw)%sw == q {
				pt.js = append(pt.js, j)
			}
		}
		if len(pt.js) == 0 {
			continue
		}
		pt.t0 = pt.js[0] * dw / sw
		if len(pt.js) > 1 {
			pt.step = (pt.js[1]*dw - pt.js[0]*dw) / sw
		}
		phs = append(phs, pt)
	}
	ParallelFor(p.n*p.m, 4, func(lo, hi int) {
		ph := newPhases(sw, H, wp)
		defer ph.free()
		clear(ph.buf)
		wsub := make([]float32, KH*KW)
		prev := -1 // the input plane ph holds
		for u := lo; u < hi; u++ {
			n, m := u/p.m, u%p.m
			if plane := n*p.c + m/p.mg; plane != prev {
				ph.splitPadded(x[plane*p.inP:][:p.inP], W, padL)
				prev = plane
			}
			out := y[u*p.outP:][:p.outP]
			wk := w[m*p.k:][:p.k]
			for _, pt := range phs {
				kw := len(pt.js)
				for i := 0; i < KH; i++ {
					for k, j := range pt.js {
						wsub[i*kw+k] = wk[i*KW+j]
					}
				}
				phase := ph.buf[pt.q*ph.rows*ph.wq : (pt.q+1)*ph.rows*ph.wq]
				for oh := 0; oh < OH; oh++ {
					base := oh*sh - win.padB[0]
					i0, i1 := max(0, divCeil(-base, dh)), 0
					if H-1-base >= 0 {
						i1 = min(KH, (H-1-base)/dh+1)
					}
					if i0 < i1 {
						depthwiseRow(out[oh*OW:(oh+1)*OW], phase[(base+i0*dh)*ph.wq+pt.t0:], dh*ph.wq, wsub[i0*kw:], i1-i0, kw, max(1, pt.step))
					}
				}
			}
		}
	})
}

// depthwiseForwardRows is depthwiseForward for column stride 1: each
// input plane is copied into a buffer with the column padding made of
// zeros, so that every output row is one depthwiseRow pass over the
// kernel rows that fall inside the image.
func (p *convPlan) depthwiseForwardRows(x, w, y []float32) {
	win := p.win
	H, W := win.in[0], win.in[1]
	KH, KW := win.kernel[0], win.kernel[1]
	OH, OW := win.out[0], win.out[1]
	sh, dh, dw, padL := win.stride[0], win.dil[0], win.dil[1], win.padB[1]
	// Padded row width: the input shifted right by padL, long enough for
	// the last output's last tap.
	wp := max(W+padL, OW+(KW-1)*dw)
	ParallelFor(p.n*p.m, 4, func(lo, hi int) {
		buf := getScratch(H * wp)
		defer putScratch(buf)
		clear(buf)
		prev := -1 // the input plane buf holds
		for u := lo; u < hi; u++ {
			n, m := u/p.m, u%p.m
			if plane := n*p.c + m/p.mg; plane != prev {
				img := x[plane*p.inP:][:p.inP]
				for r := 0; r < H; r++ {
					copy(buf[r*wp+padL:r*wp+padL+W], img[r*W:(r+1)*W])
				}
				prev = plane
			}
			out := y[u*p.outP:][:p.outP]
			wk := w[m*p.k:][:p.k]
			for oh := 0; oh < OH; oh++ {
				// Kernel rows [i0, i1) fall inside the image.
				base := oh*sh - win.padB[0]
				i0, i1 := max(0, divCeil(-base, dh)), 0
				if H-1-base >= 0 {
					i1 = min(KH, (H-1-base)/dh+1)
				}
				if i0 < i1 {
					depthwiseRow(out[oh*OW:(oh+1)*OW], buf[(base+i0*dh)*wp:], dh*wp, wk[i0*KW:], i1-i0, KW, dw)
				}
			}
		}
	})
}
