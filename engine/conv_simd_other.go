//go:build !amd64 || purego

package engine

// addScaled adds a*x to y (len(y) <= len(x)).
func addScaled(a float32, x, y []float32) { addScaledGo(a, x, y) }

// maxInto sets dst[i] = max(dst[i], src[i]) (len(dst) <= len(src)).
func maxInto(dst, src []float32) { maxIntoGo(dst, src) }

// dotRow returns the dot product of a and b[:len(a)].
func dotRow(a, b []float32) float32 { return dotRowGo(a, b) }

// depthwiseRow adds to y[o] (o < len(y)) the taps
// Σ_{i<kh, j<kw} w[i*kw+j] * x[o + i*rowStride + j*dil].
func depthwiseRow(y, x []float32, rowStride int, w []float32, kh, kw, dil int) {
	depthwiseRowGo(y, x, rowStride, w, kh, kw, dil)
}

// deinterleave2 sets even[i] = src[2i] and odd[i] = src[2i+1] for
// i < len(even); src must hold 2·len(even) elements.
func deinterleave2(even, odd, src []float32) {
	src, odd = src[:2*len(even)], odd[:len(even)]
	for i := range even {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}
