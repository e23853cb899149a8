package gemm

import (
	"math/rand"
	"sync"
	"testing"
)

// TestPackedA checks PackedA.Mul against the reference on edge shapes, on
// every kernel, single-threaded and split across goroutines, with several
// goroutines sharing one PackedA (run it with -race).
func TestPackedA(t *testing.T) {
	defer SetThreads(0)
	cases := []gemmCase{
		{m: 1, n: 1, k: 1, alpha: 1, beta: 0},
		{m: 7, n: 13, k: 97, alpha: -0.5, beta: 0.3, padA: 2, padB: 1, padC: 4},
		{transA: true, m: 33, n: 97, k: 13, alpha: 1, beta: 1, padA: 3},
		{m: 64, n: 300, k: 300, alpha: 1, beta: 0},                  // kc blocks, threads split n
		{transA: true, m: 520, n: 40, k: 27, alpha: 0.3, beta: 0.3}, // mc blocks
		{m: 1100, n: 40, k: 50, alpha: 1, beta: 0.3, padC: 1},       // threads split m across mc blocks
	}
	forEachKernel(t, func(t *testing.T) {
		for _, th := range []int{1, 2, 3} {
			SetThreads(th)
			r := rand.New(rand.NewSource(7))
			for _, tc := range cases {
				a, lda, b, ldb, c, ldc := tc.operands(r)
				pa := PackA(tc.transA, tc.m, tc.k, a, lda)
				if pa.M() != tc.m || pa.K() != tc.k {
					t.Fatalf("%v: packed %dx%d", tc, pa.M(), pa.K())
				}
				var wg sync.WaitGroup
				for range 2 {
					cg := append([]float32(nil), c...)
					wg.Add(1)
					go func() {
						defer wg.Done()
						pa.Mul(tc.n, tc.alpha, b, ldb, tc.beta, cg, ldc)
						tc.check(t, a, lda, b, ldb, c, cg, ldc)
					}()
				}
				wg.Wait()
			}
		}
	})
}

// TestPackedB checks PackedB.Mul like TestPackedA, including one-row
// products (a batch of one) and several nc blocks.
func TestPackedB(t *testing.T) {
	defer SetThreads(0)
	cases := []gemmCase{
		{m: 1, n: 1, k: 1, alpha: 1, beta: 0},
		{m: 1, n: 97, k: 300, alpha: 1, beta: 0.3, padA: 1, padB: 2},
		{transA: true, transB: true, m: 13, n: 33, k: 7, alpha: -0.5, beta: 1, padA: 3, padB: 1, padC: 2},
		{transB: true, m: 300, n: 64, k: 300, alpha: 1, beta: 0}, // kc blocks, threads split m
		{m: 3, n: 4200, k: 20, alpha: 0.3, beta: 0.3},            // nc blocks
		{m: 14, n: 4300, k: 60, alpha: 1, beta: 0, padB: 2},      // threads split n across nc blocks
	}
	forEachKernel(t, func(t *testing.T) {
		for _, th := range []int{1, 2, 3} {
			SetThreads(th)
			r := rand.New(rand.NewSource(8))
			for _, tc := range cases {
				a, lda, b, ldb, c, ldc := tc.operands(r)
				pb := PackB(tc.transB, tc.k, tc.n, b, ldb)
				if pb.K() != tc.k || pb.N() != tc.n {
					t.Fatalf("%v: packed %dx%d", tc, pb.K(), pb.N())
				}
				var wg sync.WaitGroup
				for range 2 {
					cg := append([]float32(nil), c...)
					wg.Add(1)
					go func() {
						defer wg.Done()
						pb.Mul(tc.transA, tc.m, tc.alpha, a, lda, tc.beta, cg, ldc)
						tc.check(t, a, lda, b, ldb, c, cg, ldc)
					}()
				}
				wg.Wait()
			}
		}
	})
}
