package engine

import "testing"

// TestParallelForCoversRange checks that every index is visited exactly
// once for several thread counts and grains.
func TestParallelForCoversRange(t *testing.T) {
	defer SetThreads(SetThreads(0))
	for _, th := range []int{1, 2, 3, 8} {
		SetThreads(th)
		for _, n := range []int{0, 1, 5, 17, 1000} {
			for _, grain := range []int{0, 1, 4, 64} {
				seen := make([]int32, n)
				ParallelFor(n, grain, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						seen[i]++
					}
				})
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d visited %d times", th, n, grain, i, c)
					}
				}
			}
		}
	}
}
