// Package gemm is the single-precision matrix multiply of the execution
// engine: Sgemm for one-off products, PackedA for a left operand (such as
// Conv weights) and PackedB for a right operand (such as MatMul weights)
// packed once and reused across many calls.
//
// It follows the Goto/BLIS design: op(A) and op(B) are packed block by block
// into contiguous, zero-padded micro-panels (buffers are pooled, so repeated
// shapes allocate nothing), the blocks are sized for the L1/L2/L3 caches,
// and a register-blocked micro-kernel computes each tile of C. On amd64 the
// micro-kernel is Go assembly, AVX-512F (14×32 tile) or AVX2+FMA (6×16),
// chosen at start-up from the CPU features; elsewhere, with the purego build
// tag, or on older CPUs a portable Go kernel is used. KernelName reports
// which one is active. Large products are split across goroutines (see
// SetThreads). No cgo.
package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, row-major, op(X)=X or X^T.
// A is m×k after op, B is k×n after op; lda/ldb/ldc are row strides.
//
// When beta is 0, C is not read (NaN or garbage in C is ignored). When alpha
// is 0 or k is 0, A and B are not read. Sgemm panics if a stride is smaller
// than its row length or a slice is too short for its matrix: these are
// programming errors in the caller, like an index out of range.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkDims(m, n, k)
	checkMatrix("C", false, m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	p := problem{
		kern: active, transA: transA, transB: transB,
		m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	p.run()
}

// checkDims panics on negative dimensions.
func checkDims(m, n, k int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
}

// checkMatrix panics unless x with row stride ld holds op(X), a rows×cols
// matrix (stored cols×rows when trans).
func checkMatrix(name string, trans bool, rows, cols int, x []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("gemm: %s: row stride %d is less than the row length %d", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s: %d floats, a %dx%d matrix with row stride %d needs %d", name, len(x), rows, cols, ld, need))
	}
}
