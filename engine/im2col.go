package engine

// im2col lays the receptive fields of a convolution out as columns so that
// the convolution becomes one matrix product: row (c, kernel tap) and
// column (output position) of the column matrix holds the input element
// that the tap sees at that position, or 0 in the padding. col2im is its
// adjoint: it adds columns back into an image.
//
// The 2-D versions work on a band of output rows [oh0, oh1), so that a
// convolution can be computed band by band with a column buffer that stays
// in cache, and bands can run on different threads. 1-D windows are run as
// 2-D windows of height 1 (see as2D); 3-D and higher use the N-D versions.

// as2D returns a 2-D view of a 1-D window (a leading dimension of length
// 1); 2-D windows are returned unchanged.
func as2D(w *window) *window {
	if w.rank() != 1 {
		return w
	}
	one := func(v []int, x int) []int { return []int{x, v[0]} }
	return &window{
		in: one(w.in, 1), out: one(w.out, 1), kernel: one(w.kernel, 1),
		stride: one(w.stride, 1), dil: one(w.dil, 1), padB: one(w.padB, 0), padE: one(w.padE, 0),
	}
}

// colRange returns, for kernel column j of a 2-D window, the output columns
// [lo, hi) whose input column ow*stride - pad + j*dil lies inside the
// image, and the input column offset iw0 = j*dil - pad.
func colRange(w *window, j int) (lo, hi, iw0 int) {
	W, OW, sw := w.in[1], w.out[1], w.stride[1]
	iw0 = j*w.dil[1] - w.padB[1]
	lo = 0
	if iw0 < 0 {
		lo = (-iw0 + sw - 1) / sw
	}
	hi = 0
	if W-1-iw0 >= 0 {
		hi = (W-1-iw0)/sw + 1
	}
	lo, hi = min(lo, OW), min(hi, OW)
	if hi < lo {
		hi = lo
	}
	return lo, hi, iw0
}

// im2col2D fills cols, a [C*KH*KW, (oh1-oh0)*OW] row-major matrix, from
// the C×H×W image x, for output rows [oh0, oh1) of the 2-D window w.
// With a column stride s > 1 the rows the band reads are first split into
// s phases (every s-th element), so that every copy is contiguous.
func im2col2D(x []float32, C int, w *window, oh0, oh1 int, cols []float32) {
	H, W := w.in[0], w.in[1]
	KH, KW := w.kernel[0], w.kernel[1]
	OW, sh, sw := w.out[1], w.stride[0], w.stride[1]
	ncols := (oh1 - oh0) * OW
	// Input rows [r0, r1) hold every row the band reads.
	r0 := max(0, oh0*sh-w.padB[0])
	r1 := min(H, (oh1-1)*sh-w.padB[0]+(KH-1)*w.dil[0]+1)
	var ph *phases
	if sw > 1 && r1 > r0 {
		ph = newPhases(sw, r1-r0, W)
		defer ph.free()
	}
	for c := 0; c < C; c++ {
		img := x[c*H*W : (c+1)*H*W]
		if ph != nil {
			ph.split(img[r0*W : r1*W])
		}
		for j := 0; j < KW; j++ {
			lo, hi, iw0 := colRange(w, j)
			q, t := phaseOf(iw0, sw)
			for i := 0; i < KH; i++ {
				row := cols[((c*KH+i)*KW+j)*ncols:][:ncols]
				ih0 := i*w.dil[0] - w.padB[0]
				for oh := oh0; oh < oh1; oh++ {
					dst := row[(oh-oh0)*OW:][:OW]
					ih := oh*sh + ih0
					if ih < 0 || ih >= H || lo >= hi {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					if ph == nil {
						copy(dst[lo:hi], img[ih*W+lo+iw0:ih*W+hi+iw0])
					} else {
						copy(dst[lo:hi], ph.row(q, ih-r0)[lo+t:hi+t])
					}
				}
			}
		}
	}
}

// phases holds rows split by column phase: phase q of a row is its
// elements q, q+s, q+2s, ... (a stride-s column access becomes a
// contiguous one).
type phases struct {
	s, rows, w, wq int
	buf            []float32
}

func newPhases(s, rows, w int) *phases {
	wq := divCeil(w, s)
	return &phases{s: s, rows: rows, w: w, wq: wq, buf: getScratch(s * rows * wq)}
}

func (p *phases) free() { putScratch(p.buf) }

// split fills the phases from rows×w elements.
func (p *phases) split(img []float32) { p.splitPadded(img, p.w, 0) }

// splitPadded fills the phases from an image of rows×w elements placed at
// column padL of each (wider) padded row; the padding keeps whatever the
// buffer holds (zeros when the same geometry is always used on a cleared
// buffer). Stride 2 deinterleaves with vector code.
func (p *phases) splitPadded(img []float32, w, padL int) {
	for r := 0; r < p.rows; r++ {
		src := img[r*w : (r+1)*w]
		if p.s == 2 {
			// Input column iw lands at padded column iw+padL: phase
			// (iw+padL)%2, element (iw+padL)/2.
			first, second := p.row(padL%2, r), p.row((padL+1)%2, r)
			a, b := first[padL/2:], second[(padL+1)/2:]
			n := w / 2
			deinterleave2(a[:n], b, src)
			if w%2 == 1 {
				a[n] = src[w-1]
			}
			continue
		}
		for iw, v := range src {
			c := iw + padL
			p.buf[((c%p.s)*p.rows+r)*p.wq+c/p.s] = v
		}
	}
}

// row returns phase q of row r.
func (p *phases) row(q, r int) []float32 { return p.buf[(q*p.rows+r)*p.wq:][:p.wq] }

// phaseOf writes a column offset iw0 as q + s*t with 0 <= q < s: column
// ow*s + iw0 is element ow + t of phase q.
func phaseOf(iw0, s int) (q, t int) {
	q = ((iw0 % s) + s) % s
	return q, (iw0 - q) / s
}

// col2im2D adds the [C*KH*KW, (oh1-oh0)*OW] column matrix cols into the
// C×H×W image dx: the adjoint of im2col2D.
func col2im2D(cols []float32, C int, w *window, oh0, oh1 int, dx []float32) {
	H, W := w.in[0], w.in[1]
	KH, KW := w.kernel[0], w.kernel[1]
	OW, sh, sw := w.out[1], w.stride[0], w.stride[1]
	ncols := (oh1 - oh0) * OW
	for j := 0; j < KW; j++ {
		lo, hi, iw0 := colRange(w, j)
		if lo >= hi {
			continue
		}
		for c := 0; c < C; c++ {
			img := dx[c*H*W : (c+1)*H*W]
			for i := 0; i < KH; i++ {
				row := cols[((c*KH+i)*KW+j)*ncols:][:ncols]
				ih0 := i*w.dil[0] - w.padB[0]
				for oh := oh0; oh < oh1; oh++ {
					ih := oh*sh + ih0
					if ih < 0 || ih >= H {
						continue
					}
					s := row[(oh-oh0)*OW:][lo:hi]
					d := img[ih*W : (ih+1)*W]
					if sw == 1 {
						addScaled(1, s, d[lo+iw0:hi+iw0])
					} else {
						for k, v := range s {
							d[(lo+k)*sw+iw0] += v
						}
					}
				}
			}
		}
	}
}

// ndTaps enumerates, for an N-D window, the input offset of every
// (kernel tap, output position) pair: off[t*outSize+p] is the index into
// one input channel, or -1 where the tap falls in the padding.
func ndTaps(w *window) []int32 {
	r := w.rank()
	K, P := w.kSize(), w.outSize()
	off := make([]int32, K*P)
	kIdx := make([]int, r)
	for t := 0; t < K; t++ {
		oIdx := make([]int, r)
		for p := 0; p < P; p++ {
			idx, inside := 0, true
			for d := 0; d < r; d++ {
				v := oIdx[d]*w.stride[d] - w.padB[d] + kIdx[d]*w.dil[d]
				if v < 0 || v >= w.in[d] {
					inside = false
					break
				}
				idx = idx*w.in[d] + v
			}
			if inside {
				off[t*P+p] = int32(idx)
			} else {
				off[t*P+p] = -1
			}
			odometer(oIdx, w.out)
		}
		odometer(kIdx, w.kernel)
	}
	return off
}

// odometer advances a multi-index over dims in row-major order.
func odometer(idx, dims []int) {
	for d := len(idx) - 1; d >= 0; d-- {
		idx[d]++
		if idx[d] < dims[d] {
			return
		}
		idx[d] = 0
	}
}

// im2colND fills cols [C*K, P] from the image x (C channels of inSize
// elements) using the offsets of ndTaps.
func im2colND(x []float32, C, inSize int, off []int32, cols []float32) {
	KP := len(off)
	for c := 0; c < C; c++ {
		img := x[c*inSize : (c+1)*inSize]
		dst := cols[c*KP : (c+1)*KP]
		for i, o := range off {
			if o >= 0 {
				dst[i] = img[o]
			} else {
				dst[i] = 0
			}
		}
	}
}

// col2imND adds cols [C*K, P] back into dx: the adjoint of im2colND.
func col2imND(cols []float32, C, inSize int, off []int32, dx []float32) {
	KP := len(off)
	for c := 0; c < C; c++ {
		img := dx[c*inSize : (c+1)*inSize]
		src := cols[c*KP : (c+1)*KP]
		for i, o := range off {
			if o >= 0 {
				img[o] += src[i]
			}
		}
	}
}
