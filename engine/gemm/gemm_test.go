package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"
)

// eps32 is the float32 machine epsilon, 2^-23 (twice the unit roundoff u).
const eps32 = 1.0 / (1 << 23)

// sentinel marks C entries outside the m×n result (row padding) that must
// never be written.
const sentinel = float32(-12345.5)

// gemmCase is one Sgemm call to check.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra floats per row beyond the row length
	padC           int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v pad=%d/%d/%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// operands builds random A, B and C for the case; with beta 0, C holds NaN.
func (tc gemmCase) operands(r *rand.Rand) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = colsA, rowsA
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = colsB, rowsB
	}
	lda, ldb, ldc = colsA+tc.padA, colsB+tc.padB, tc.n+tc.padC
	a = randSlice(r, rowsA*lda)
	b = randSlice(r, rowsB*ldb)
	c = randSlice(r, tc.m*ldc)
	for i := range tc.m {
		for j := range ldc {
			switch {
			case j >= tc.n:
				c[i*ldc+j] = sentinel
			case tc.beta == 0:
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	return
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// check compares got (C after the call) with a float64 reference computed
// from the operands and the original C (c0).
//
// Tolerance: each C entry is a float32 dot product of length k, summed in
// some order (kc-blocked, FMA or not), then scaled by alpha and added to
// beta*C. The classic bound for a recursively summed dot product is
// |err| <= gamma_k * sum_p |a_p||b_p| with gamma_k ~ k*u, u = 2^-24; the
// alpha scaling, the beta*C term and the merge of each kc block into C add
// a few more roundings. So |err| <= (k+4)*u*(|alpha|*sum|a||b| + |beta||c0|)
// is a strict worst-case bound; we allow (k+4)*eps32 (= 2u per step),
// twice that bound, plus a tiny absolute term for exact-zero references.
func (tc gemmCase) check(t *testing.T, a []float32, lda int, b []float32, ldb int, c0, got []float32, ldc int) {
	t.Helper()
	at := func(i, p int) float64 {
		if tc.transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if tc.transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	bad := 0
	for i := range tc.m {
		for j := range ldc {
			g := got[i*ldc+j]
			if j >= tc.n {
				if g != sentinel {
					t.Fatalf("%v: C[%d][%d] in the row padding was written: %v", tc, i, j, g)
				}
				continue
			}
			var dot, mag float64
			for p := range tc.k {
				x := at(i, p) * bt(p, j)
				dot += x
				mag += math.Abs(x)
			}
			want := float64(tc.alpha) * dot
			bound := math.Abs(float64(tc.alpha)) * mag
			if tc.beta != 0 {
				want += float64(tc.beta) * float64(c0[i*ldc+j])
				bound += math.Abs(float64(tc.beta) * float64(c0[i*ldc+j]))
			}
			tol := float64(tc.k+4)*eps32*bound + 1e-30
			if d := math.Abs(float64(g) - want); !(d <= tol) {
				if bad++; bad <= 3 {
					t.Errorf("%v: C[%d][%d] = %v, want %v (diff %.3g > tol %.3g)", tc, i, j, g, want, d, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong entries", tc, bad)
	}
}

func (tc gemmCase) run(t *testing.T, r *rand.Rand) {
	t.Helper()
	a, lda, b, ldb, c, ldc := tc.operands(r)
	c0 := append([]float32(nil), c...)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	tc.check(t, a, lda, b, ldb, c0, c, ldc)
}

var (
	alphas = []float32{1, -0.5, 0}
	betas  = []float32{0, 1, 0.3}
)

// edgeCases covers every combination of transposes with sizes that are 1,
// primes, tile and block non-multiples, and padded strides.
func edgeCases() []gemmCase {
	sizes := []int{1, 7, 13, 33, 97}
	var cases []gemmCase
	i := 0
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range sizes {
				for tr := range 4 {
					cases = append(cases, gemmCase{
						transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k,
						alpha: alphas[i%3], beta: betas[(i/3)%3],
						padA: (i / 9) % 3, padB: (i / 5) % 2 * 3, padC: (i / 2) % 2 * 5,
					})
					i++
				}
			}
		}
	}
	// Sizes around every kernel's tile (mr up to 14, nr up to 32).
	for _, mn := range [][2]int{{4, 4}, {5, 3}, {6, 16}, {12, 17}, {14, 32}, {15, 31}, {28, 64}, {29, 65}} {
		for tr := range 4 {
			cases = append(cases, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: mn[0], n: mn[1], k: 19, alpha: 1, beta: betas[tr%3], padC: tr})
		}
	}
	// Every edge-tile shape: rows 1-15, columns within one or two vectors.
	for m := 1; m <= 15; m++ {
		for j, n := range []int{1, 15, 16, 17, 31, 33} {
			cases = append(cases, gemmCase{transA: m%2 == 0, transB: j%2 == 0, m: m, n: n, k: 6 + m, alpha: -0.5, beta: betas[(m+j)%3], padC: j})
		}
	}
	return cases
}

// blockCases cross the kc, mc and nc block boundaries of every kernel.
func blockCases() []gemmCase {
	return []gemmCase{
		{m: 20, n: 40, k: 600, alpha: 1, beta: 0.3},                                      // several kc blocks
		{transA: true, transB: true, m: 9, n: 35, k: 513, alpha: -0.5, beta: 0, padA: 1}, // kc edge
		{m: 530, n: 17, k: 9, alpha: 1, beta: 1},                                         // several mc blocks
		{transA: true, m: 260, n: 5, k: 257, alpha: 1, beta: 0.3, padC: 2},               // mc and kc blocks
		{m: 3, n: 4200, k: 5, alpha: 1, beta: 0},                                         // several nc blocks
		{transB: true, m: 15, n: 2100, k: 270, alpha: 0.3, beta: 1, padB: 7},             // nc and kc blocks
	}
}

// forEachKernel runs f with every kernel this machine supports, the
// assembly ones and the pure-Go fallback.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	for _, name := range Kernels() {
		t.Run(name, func(t *testing.T) {
			defer UseKernel(name)()
			f(t)
		})
	}
}

func TestSgemmEdgeCases(t *testing.T) {
	defer SetThreads(0)
	SetThreads(1)
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(1))
		for _, tc := range edgeCases() {
			tc.run(t, r)
		}
	})
}

func TestSgemmBlocks(t *testing.T) {
	defer SetThreads(0)
	SetThreads(1)
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(2))
		for _, tc := range blockCases() {
			tc.run(t, r)
		}
	})
}

// TestSgemmParallel splits products across goroutines (run it with -race),
// with thread counts that divide the work evenly and unevenly, and with
// concurrent callers sharing the workers.
func TestSgemmParallel(t *testing.T) {
	defer SetThreads(0)
	cases := []gemmCase{
		{m: 70, n: 300, k: 40, alpha: 1, beta: 0},                                 // split n
		{transA: true, m: 301, n: 50, k: 33, alpha: -0.5, beta: 0.3, padC: 3},     // split m
		{transB: true, m: 45, n: 97, k: 300, alpha: 1, beta: 1, padA: 2, padB: 1}, // split n, kc blocks
		{transA: true, transB: true, m: 130, n: 129, k: 64, alpha: 0.3, beta: 0},  // split n
	}
	forEachKernel(t, func(t *testing.T) {
		for _, th := range []int{2, 3} {
			SetThreads(th)
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewSource(int64(3 + g)))
					for _, tc := range cases {
						tc.run(t, r)
					}
				}()
			}
			wg.Wait()
		}
	})
}

func TestSgemmQuickPaths(t *testing.T) {
	// m or n zero: nothing happens, even with empty slices.
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	Sgemm(false, false, 4, 0, 3, 1, make([]float32, 12), 3, nil, 1, 0, nil, 1)
	// k zero: C = beta*C, A and B unused.
	c := []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	if c[0] != 0.5 || c[3] != 2 {
		t.Errorf("k=0, beta=0.5: C = %v, want [0.5 1 1.5 2]", c)
	}
	nan := float32(math.NaN())
	c = []float32{nan, nan}
	Sgemm(false, false, 1, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	if c[0] != 0 || c[1] != 0 {
		t.Errorf("k=0, beta=0 over NaN: C = %v, want zeros", c)
	}
}

func TestSgemmBadArgs(t *testing.T) {
	bad := map[string]func(){
		"short A": func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		"short C": func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		},
		"small lda": func() {
			Sgemm(false, false, 2, 2, 3, 1, make([]float32, 9), 2, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		},
		"small ldb": func() {
			Sgemm(false, true, 2, 2, 3, 1, make([]float32, 6), 3, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		},
		"negative": func() { Sgemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) },
	}
	for name, f := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
