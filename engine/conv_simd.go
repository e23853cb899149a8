package engine

// The portable versions of the vector loops (conv_simd_amd64.s has the
// assembly ones).

// addScaledGo adds a*x to y (len(y) <= len(x)).
func addScaledGo(a float32, x, y []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// maxIntoGo sets dst[i] = max(dst[i], src[i]) (len(dst) <= len(src)).
func maxIntoGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

// dotRowGo returns the dot product of a and b[:len(a)].
func dotRowGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// depthwiseRowGo is the portable depthwiseRow.
func depthwiseRowGo(y, x []float32, rowStride int, w []float32, kh, kw, dil int) {
	for i := 0; i < kh; i++ {
		for j := 0; j < kw; j++ {
			off := i*rowStride + j*dil
			addScaledGo(w[i*kw+j], x[off:off+len(y)], y)
		}
	}
}

// fillF32 sets every element of dst to v, doubling a filled prefix with copy
// (memmove speed rather than one store per element).
func fillF32(dst []float32, v float32) {
	if len(dst) == 0 {
		return
	}
	dst[0] = v
	for n := 1; n < len(dst); n *= 2 {
		copy(dst[n:], dst[:n])
	}
}
