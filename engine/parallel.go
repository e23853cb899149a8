package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/onnxq/onnxq/engine/gemm"
)

// threads is the number of goroutines ParallelFor uses (at least 1).
var threads atomic.Int64

func init() { threads.Store(int64(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines the engine's kernels (and the GEMM
// they call) use; n <= 0 restores the default, runtime.GOMAXPROCS(0). It
// returns the previous value.
func SetThreads(n int) int {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	gemm.SetThreads(n) // the matrix products split their work too
	return int(threads.Swap(int64(n)))
}

// Threads returns the number of goroutines kernels use.
func Threads() int { return int(threads.Load()) }

// ParallelFor calls fn(lo, hi) on disjoint chunks that together cover
// [0, n), on up to Threads() goroutines, and returns when all are done.
// grain is the smallest chunk worth a goroutine (in iterations); with one
// thread, or n <= grain, fn(0, n) runs on the calling goroutine.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	t := Threads()
	if chunks := (n + grain - 1) / grain; chunks < t {
		t = chunks
	}
	if t <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + t - 1) / t
	for lo := step; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(step, n))
	wg.Wait()
}
