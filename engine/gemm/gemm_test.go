package gemm

import (
	"math/rand"
	"testing"
)

func TestSgemmSmall(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			m, n, k := 7, 13, 5
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			for i := range a {
				a[i] = r.Float32()
			}
			for i := range b {
				b[i] = r.Float32()
			}
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
			c := make([]float32, m*n)
			Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						var av, bv float32
						if ta {
							av = a[p*lda+i]
						} else {
							av = a[i*lda+p]
						}
						if tb {
							bv = b[j*ldb+p]
						} else {
							bv = b[p*ldb+j]
						}
						s += float64(av) * float64(bv)
					}
					if d := float64(c[i*n+j]) - s; d > 1e-5 || d < -1e-5 {
						t.Fatalf("ta=%v tb=%v c[%d,%d]=%v want %v", ta, tb, i, j, c[i*n+j], s)
					}
				}
			}
		}
	}
}
