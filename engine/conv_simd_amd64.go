//go:build amd64 && !purego

package engine

import "golang.org/x/sys/cpu"

// The vector loops of the direct kernels (depthwise convolution, pooling,
// resizing, col2im) in AVX2+FMA assembly (conv_simd_amd64.s).

//go:noescape
func axpyAVX2(a float32, x, y []float32)

//go:noescape
func maxAVX2(dst, src []float32)

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func dwRowAVX2(y []float32, x *float32, rowStride int, w *float32, kh, kw, dil int)

//go:noescape
func deinterleave2AVX2(even, odd, src []float32)

// hasAVX2 says the CPU runs the assembly loops.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// simdMin is the length from which a call to the assembly pays off.
const simdMin = 8

// addScaled adds a*x to y (len(y) <= len(x)).
func addScaled(a float32, x, y []float32) {
	if hasAVX2 && len(y) >= simdMin {
		axpyAVX2(a, x[:len(y)], y)
		return
	}
	addScaledGo(a, x, y)
}

// maxInto sets dst[i] = max(dst[i], src[i]) (len(dst) <= len(src)).
func maxInto(dst, src []float32) {
	if hasAVX2 && len(dst) >= simdMin {
		maxAVX2(dst, src[:len(dst)])
		return
	}
	maxIntoGo(dst, src)
}

// dotRow returns the dot product of a and b[:len(a)].
func dotRow(a, b []float32) float32 {
	if hasAVX2 && len(a) >= simdMin {
		return dotAVX2(a, b[:len(a)])
	}
	return dotRowGo(a, b)
}

// depthwiseRow adds to y[o] (o < len(y)) the taps
// Σ_{i<kh, j<kw} w[i*kw+j] * x[o + i*rowStride + j*dil]; x must hold every
// element read.
func depthwiseRow(y, x []float32, rowStride int, w []float32, kh, kw, dil int) {
	if len(y) == 0 || kh == 0 {
		return
	}
	_ = x[len(y)-1+(kh-1)*rowStride+(kw-1)*dil] // every read is inside x
	_ = w[kh*kw-1]
	if hasAVX2 {
		dwRowAVX2(y, &x[0], rowStride, &w[0], kh, kw, dil)
		return
	}
	depthwiseRowGo(y, x, rowStride, w, kh, kw, dil)
}

// deinterleave2 sets even[i] = src[2i] and odd[i] = src[2i+1] for
// i < len(even); src must hold 2·len(even) elements.
func deinterleave2(even, odd, src []float32) {
	n := len(even)
	src, odd = src[:2*n], odd[:n]
	done := 0
	if hasAVX2 {
		done = n - n%8
		deinterleave2AVX2(even[:done], odd, src)
	}
	for i := done; i < n; i++ {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}
