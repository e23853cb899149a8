// Package gemm is the single-precision matrix multiply of the execution engine.
//
// Sgemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices.
package gemm

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, row-major, op(X)=X or X^T.
// A is m×k after op, B is k×n after op; lda/ldb/ldc are row strides.
// When beta is 0, C is not read (NaN or garbage in C is ignored).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		if alpha == 0 {
			continue
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if av == 0 {
				continue
			}
			if transB {
				for j := range row {
					row[j] += av * b[j*ldb+p]
				}
			} else {
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					row[j] += av * bv
				}
			}
		}
	}
}
