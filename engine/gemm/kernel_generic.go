package gemm

import "unsafe"

// genericKernel is the portable pure-Go micro-kernel, used on other
// architectures, with the purego build tag, and on CPUs without AVX2+FMA.
var genericKernel = &kernel{
	name: "go-4x4", mr: 4, nr: 4,
	kc: 256, mc: 128, nc: 2048, ncL2: 512,
	fn: kernelGo4x4, packA: packA, packB: packB,
}

// kernelGo4x4 is the pure-Go 4×4 micro-kernel; see kernel.fn.
func kernelGo4x4(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	as := unsafe.Slice(a, 4*k)
	bs := unsafe.Slice(b, 4*k)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for len(as) >= 4 && len(bs) >= 4 {
		b0, b1, b2, b3 := bs[0], bs[1], bs[2], bs[3]
		a0 := as[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := as[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := as[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := as[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		as, bs = as[4:], bs[4:]
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	for r := range acc {
		row := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), r*ldc*4)), 4)
		if beta == 0 {
			for j, v := range acc[r] {
				row[j] = alpha * v
			}
		} else {
			for j, v := range acc[r] {
				row[j] = alpha*v + beta*row[j]
			}
		}
	}
}
