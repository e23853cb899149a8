//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_kernels.go

// kernelAVX512x14x32 is the AVX-512F micro-kernel (kernel_amd64.s); see kernel.fn.
//
//go:noescape
func kernelAVX512x14x32(k int, a, b, c *float32, ldc int, alpha, beta float32)

// kernelAVX2x6x16 is the AVX2+FMA micro-kernel (kernel_amd64.s); see kernel.fn.
//
//go:noescape
func kernelAVX2x6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

// avx512Kernel: 28 of the 32 ZMM registers accumulate a 14×32 tile.
// Blocking for 48 KiB L1d / 1 MiB L2 per core / 32 MiB L3 (AMD Zen 5
// here): a 256×32 B micro-panel is 32 KiB, a 504×256 A block 504 KiB, a
// 256×4096 B block 4 MiB (256×512, 512 KiB, when A is small). Measured on
// 1024³ and the conv shapes of bench_test.go: kc 256-512 beat 128-192 by
// ~15%, and the small-A nc of 512 gains ~10% on 64×3136×576.
var avx512Kernel = &kernel{
	name: "avx512-14x32", mr: 14, nr: 32,
	kc: 256, mc: 504, nc: 4096, ncL2: 512,
	fn: kernelAVX512x14x32, edge: avx512EdgeKernel, packA: packAAVX512, packB: packBAVX512,
}

// avx2Kernel: 12 of the 16 YMM registers accumulate a 6×16 tile.
var avx2Kernel = &kernel{
	name: "avx2-6x16", mr: 6, nr: 16,
	kc: 256, mc: 504, nc: 4096, ncL2: 512,
	fn: kernelAVX2x6x16, packA: packA, packB: packB,
}

// archKernels returns the assembly kernels this CPU supports, fastest first.
func archKernels() []*kernel {
	var ks []*kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return ks
}

// avx512EdgeKernel computes the top-left rows×cols of a 14×32 tile with the
// masked kernel for rows rows and one or two vectors of columns.
func avx512EdgeKernel(k int, a, b, c *float32, ldc int, alpha, beta float32, rows, cols int) {
	vecs := 1
	if cols > 16 {
		vecs = 2
	}
	avx512Edge[rows][vecs](k, a, b, c, ldc, alpha, beta, laneMask(cols))
}
