package gemm

// kernel is one micro-kernel with the cache blocking tuned for it.
//
// fn computes one mr×nr tile of C = alpha*A·B + beta*C from a packed A
// micro-panel (mr floats per k step) and a packed B micro-panel (nr floats
// per k step); C rows are ldc floats apart. When beta is ±0, fn never reads
// C. edge, if set, computes only the top-left rows×cols of a tile, for
// the edges of C; without it edge tiles go through a scratch tile.
// packA and packB pack blocks for it (see pack.go). kc, mc and nc are the Goto/BLIS block sizes: a kc×nr B micro-panel
// stays in L1, an mc×kc A block in L2 and a kc×nc B block in L3.
type kernel struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	ncL2       int // nc when A fits one mc block (see blockingFor)
	fn         func(k int, a, b, c *float32, ldc int, alpha, beta float32)
	edge       func(k int, a, b, c *float32, ldc int, alpha, beta float32, rows, cols int)
	packA      func(dst []float32, transA bool, a []float32, lda, i0, mc, p0, kc, mr int)
	packB      func(dst []float32, transB bool, b []float32, ldb, p0, kc, j0, nc, nr int)
}

// kernels lists the kernels usable on this machine, fastest first; the
// portable Go kernel is always last.
var kernels = append(archKernels(), genericKernel)

// active is the kernel Sgemm and PackA use.
var active = kernels[0]

// KernelName reports the micro-kernel in use on this machine, e.g.
// "avx512-14x32", "avx2-6x16" or "go-4x4".
func KernelName() string { return active.name }
