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
	y := make([]float32, p.n*p.m*p.outP)
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
			row := y[i*p.outP : (i+1)*p.outP]
			b := bias[i%p.m]
			for j := range row {
				row[j] = b
			}
		}
	}
	switch {
	case p.depthwise():
		p.depthwiseForward(x, w, y)
	case p.pointwise():
		p.pointwiseForward(x, w, beta, y)
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
// group directly: each output row is a sum of shifted, scaled input rows.
// y already holds the bias (or zeros).
func (p *convPlan) depthwiseForward(x, w, y []float32) {
	win := p.win
	H, W := win.in[0], win.in[1]
	KH, KW := win.kernel[0], win.kernel[1]
	OH, OW := win.out[0], win.out[1]
	sh, sw := win.stride[0], win.stride[1]
	ParallelFor(p.n*p.m, 4, func(lo, hi int) {
		var ph *phases
		if sw > 1 {
			ph = newPhases(sw, H, W)
			defer ph.free()
		}
		prev := -1 // the input plane ph holds
		for u := lo; u < hi; u++ {
			n, m := u/p.m, u%p.m
			ci := m / p.mg // input channel (cg == 1)
			img := x[(n*p.c+ci)*p.inP:][:p.inP]
			if ph != nil && n*p.c+ci != prev {
				ph.split(img)
				prev = n*p.c + ci
			}
			out := y[u*p.outP:][:p.outP]
			wk := w[m*p.k:][:p.k]
			for j := 0; j < KW; j++ {
				c0, c1, iw0 := colRange(win, j)
				if c0 >= c1 {
					continue
				}
				q, t := phaseOf(iw0, sw)
				for i := 0; i < KH; i++ {
					wv := wk[i*KW+j]
					ih0 := i*win.dil[0] - win.padB[0]
					for oh := 0; oh < OH; oh++ {
						ih := oh*sh + ih0
						if ih < 0 || ih >= H {
							continue
						}
						dst := out[oh*OW:][c0:c1]
						if ph == nil {
							addScaled(wv, img[ih*W+c0+iw0:ih*W+c1+iw0], dst)
						} else {
							addScaled(wv, ph.row(q, ih)[c0+t:c1+t], dst)
						}
					}
				}
			}
		}
	})
}
