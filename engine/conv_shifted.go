package engine

import "github.com/onnxq/onnxq/engine/gemm"

// A stride-1 convolution needs no im2col. With the input copied once into
// a zero-padded plane Xp [C, Hp, Wp], output (oh, ow) sees tap (i, j) at
// Xp[c, oh + i·dh, ow + j·dw], which is flat offset (oh·Wp + ow) +
// (i·dh·Wp + j·dw). So in a layout of the output with rows Wp wide,
//
//	Y'[m, oh·Wp + ow] = Σ_taps W_tap[m, c] · Xp[c, oh·Wp + ow + off_tap]
//
// is one GEMM per tap whose right operand is Xp itself, read at an offset
// (row stride: Xp's channel stride). The GEMM packs that operand as it
// would pack im2col columns, so the im2col copy (k times the input) is
// saved; the price is the padded copy and moving Y' (Wp - OW wasted
// columns per row) into Y.

// shifted reports whether the convolution takes the shifted-GEMM path:
// 2-D (or 1-D), stride 1, more than one tap, not depthwise.
func (p *convPlan) shifted() bool {
	w := p.win
	return !p.nd && p.k > 1 && w.stride[0] == 1 && w.stride[1] == 1 && !p.depthwise()
}

// shiftedGeom returns the padded plane's size and the output band height.
func (p *convPlan) shiftedGeom() (hp, wp, rows int) {
	w := p.win
	hp = max(w.in[0]+w.padB[0], w.out[0]+(w.kernel[0]-1)*w.dil[0])
	wp = max(w.in[1]+w.padB[1], w.out[1]+(w.kernel[1]-1)*w.dil[1])
	// Bands of output rows whose Y' (mg × rows × wp) stays near 256 KiB.
	rows = max(1, min(w.out[0], (1<<16)/max(1, p.mg*wp)))
	return hp, wp, rows
}

// shiftedForward computes y [N, M, P] (holding the bias, or zeros, when
// beta is 1) by one GEMM per kernel tap over the padded input.
func (p *convPlan) shiftedForward(x, w []float32, beta float32, y []float32) {
	win := p.win
	H, W := win.in[0], win.in[1]
	OH, OW := win.out[0], win.out[1]
	KW := win.kernel[1]
	hp, wp, rows := p.shiftedGeom()
	// Per group and tap, the weights W_tap [mg, cg], packed once.
	packed := make([][]*gemm.PackedA, p.group)
	wt := make([]float32, p.mg*p.cg)
	for g := range packed {
		packed[g] = make([]*gemm.PackedA, p.k)
		for t := 0; t < p.k; t++ {
			for m := 0; m < p.mg; m++ {
				for c := 0; c < p.cg; c++ {
					wt[m*p.cg+c] = w[((g*p.mg+m)*p.cg+c)*p.k+t]
				}
			}
			packed[g][t] = gemm.PackA(false, p.mg, p.cg, wt, p.cg)
		}
	}
	xp := getScratch(p.cg * hp * wp)
	defer putScratch(xp)
	yt := getScratch(p.mg * rows * wp)
	defer putScratch(yt)
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			// The group's channels, zero-padded.
			xs := x[(n*p.c+g*p.cg)*p.inP:][:p.cg*p.inP]
			ParallelFor(p.cg, max(1, (1<<14)/max(1, hp*wp)), func(c0, c1 int) {
				for c := c0; c < c1; c++ {
					plane := xp[c*hp*wp : (c+1)*hp*wp]
					clear(plane)
					for r := 0; r < H; r++ {
						copy(plane[(r+win.padB[0])*wp+win.padB[1]:][:W], xs[c*p.inP+r*W:][:W])
					}
				}
			})
			ys := y[(n*p.m+g*p.mg)*p.outP:][:p.mg*p.outP]
			for oh0 := 0; oh0 < OH; oh0 += rows {
				oh1 := min(oh0+rows, OH)
				// Y' columns of the band; the last row needs only OW.
				nc := (oh1-oh0-1)*wp + OW
				for t := 0; t < p.k; t++ {
					i, j := t/KW, t%KW
					off := (oh0+i*win.dil[0])*wp + j*win.dil[1]
					b := float32(1)
					if t == 0 {
						b = 0
					}
					packed[g][t].Mul(nc, 1, xp[off:], hp*wp, b, yt, nc)
				}
				// Move the band into y (adding to the bias if any).
				ParallelFor(p.mg, max(1, 4096/max(1, nc)), func(m0, m1 int) {
					for m := m0; m < m1; m++ {
						for oh := oh0; oh < oh1; oh++ {
							src := yt[m*nc+(oh-oh0)*wp:][:OW]
							dst := ys[m*p.outP+oh*OW:][:OW]
							if beta == 0 {
								copy(dst, src)
							} else {
								addScaled(1, src, dst)
							}
						}
					}
				})
			}
		}
	}
}
