//go:build !race

package gemm

import "testing"

// TestNoGarbage checks that repeated calls with one shape allocate nothing:
// the packing buffers, wait groups and workers are reused. (The race
// detector makes sync.Pool drop items at random, hence the build tag.)
func TestNoGarbage(t *testing.T) {
	defer SetThreads(0)
	m, n, k := 100, 200, 150
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	pa := PackA(false, m, k, a, k)
	pb := PackB(true, k, n, b, k)
	for _, th := range []int{1, 2} {
		SetThreads(th)
		if got := testing.AllocsPerRun(20, func() { Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }); got != 0 {
			t.Errorf("%d threads: Sgemm allocates %v times per call", th, got)
		}
		if got := testing.AllocsPerRun(20, func() { pa.Mul(n, 1, b, n, 0, c, n) }); got != 0 {
			t.Errorf("%d threads: PackedA.Mul allocates %v times per call", th, got)
		}
		if got := testing.AllocsPerRun(20, func() { pb.Mul(false, m, 1, a, k, 0, c, n) }); got != 0 {
			t.Errorf("%d threads: PackedB.Mul allocates %v times per call", th, got)
		}
	}
}
