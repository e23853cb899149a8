package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threads is the SetThreads setting; 0 means runtime.GOMAXPROCS(0).
var threads atomic.Int32

// SetThreads sets how many goroutines one Sgemm or PackedA.Mul call may
// use. n <= 0 restores the default, runtime.GOMAXPROCS(0); 1 makes every
// call single-threaded (for benchmarks, or when the caller parallelizes).
func SetThreads(n int) {
	threads.Store(int32(max(n, 0)))
}

// Threads reports the current thread setting (see SetThreads).
func Threads() int {
	if t := threads.Load(); t > 0 {
		return int(t)
	}
	return runtime.GOMAXPROCS(0)
}

// minMACsPerThread is the least work (multiply-adds) worth handing to
// another goroutine: about 10 µs at 200 GFLOP/s, well above the cost of
// waking a worker.
const minMACsPerThread = 1 << 20

// run computes the problem, split into column (or row) ranges across up to
// Threads() goroutines: the caller's plus worker goroutines. Each part runs
// the serial algorithm on its own C range with its own packing buffers.
//
// Parts wait in a shared queue until a worker takes them, and the caller,
// once its own part is done, runs any parts still queued before it blocks.
// So a call never waits on a worker that is busy or slow to wake (on this
// shared 2-vCPU machine a woken thread often lands on the waker's CPU and
// only runs once the waker sleeps) and calls from many goroutines at once
// share the workers. The caller sleeps while it waits; only idle workers
// poll, briefly and yielding (see workerSpin): a spinning waiter would keep
// a worker that Linux placed on its CPU from running at all.
func (p *problem) run() {
	nt := min(Threads(), p.m*p.n*p.k/minMACsPerThread)
	if nt <= 1 {
		p.runSerial()
		return
	}
	splitN, chunk := p.split(nt)
	dim := p.m
	if splitN {
		dim = p.n
	}
	nt = (dim + chunk - 1) / chunk
	if nt <= 1 {
		p.runSerial()
		return
	}
	startWorkers(nt - 1)
	wg := waitGroups.Get().(*sync.WaitGroup)
	wg.Add(nt - 1)
	for t := 1; t < nt; t++ {
		lo := t * chunk
		post(task{p: p.part(splitN, lo, min(lo+chunk, dim)), wg: wg})
	}
	first := p.part(splitN, 0, chunk)
	first.runSerial()
	for {
		t, ok := pop()
		if !ok {
			break
		}
		t.run()
	}
	wg.Wait()
	waitGroups.Put(wg)
}

// split chooses how to cut the problem into nt parts: along n (splitN) or
// m, in chunks of whole tiles. It takes the direction whose tile-rounded
// parts are the most even (n on a tie): 196 columns make 4+3 tiles of 32,
// but 256 rows 10+9 tiles of 14.
func (p *problem) split(nt int) (splitN bool, chunk int) {
	chunkOf := func(dim, unit int) (int, float64) {
		c := (dim + nt - 1) / nt
		c = (c + unit - 1) / unit * unit
		return c, float64(dim) / float64(nt*c)
	}
	cm, em := chunkOf(p.m, p.kern.mr)
	cn, en := chunkOf(p.n, p.kern.nr)
	if en >= em {
		return true, cn
	}
	return false, cm
}

// part returns the sub-problem for columns (splitN) or rows [lo, hi).
func (p *problem) part(splitN bool, lo, hi int) problem {
	q := *p
	if splitN {
		q.n = hi - lo
		q.c = p.c[lo:]
		if p.pb != nil {
			q.bCol0 += lo
			return q
		}
		if p.transB {
			q.b = p.b[lo*p.ldb:]
		} else {
			q.b = p.b[lo:]
		}
		return q
	}
	q.m = hi - lo
	q.c = p.c[lo*p.ldc:]
	if p.pa != nil {
		q.aRow0 += lo
		return q
	}
	if p.transA {
		q.a = p.a[lo:]
	} else {
		q.a = p.a[lo*p.lda:]
	}
	return q
}

// task is one part of a parallel GEMM; wg counts the parts of its call not
// finished yet.
type task struct {
	p  problem
	wg *sync.WaitGroup
}

func (t *task) run() {
	t.p.runSerial()
	t.wg.Done()
}

// workerSpin is how long a worker keeps polling for parts after its last
// one before it blocks. Back-to-back products (the layers of a network)
// then find it running: waking a blocked thread costs tens of µs here, as
// the woken thread often lands on the waker's CPU and waits for it. The
// poll yields (runtime.Gosched) so it never keeps other goroutines from
// running.
const workerSpin = 200 * time.Microsecond

var (
	queueMu sync.Mutex
	queue   []task       // parts not started yet, taken last-in first-out
	queued  atomic.Int32 // len(queue), for polling without the lock

	// wake holds a token per queued part (up to its capacity); an idle
	// worker blocks on it.
	wake = make(chan struct{}, 64)

	workersMu  sync.Mutex
	workers    int
	waitGroups = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

// post queues a part and wakes a worker.
func post(t task) {
	queueMu.Lock()
	queue = append(queue, t)
	queued.Add(1)
	queueMu.Unlock()
	select {
	case wake <- struct{}{}:
	default: // enough tokens pending: a worker will see this part
	}
}

// pop takes a queued part, if any.
func pop() (task, bool) {
	if queued.Load() == 0 {
		return task{}, false
	}
	queueMu.Lock()
	defer queueMu.Unlock()
	n := len(queue)
	if n == 0 {
		return task{}, false
	}
	t := queue[n-1]
	queue[n-1] = task{} // drop references to the caller's slices
	queue = queue[:n-1]
	queued.Add(-1)
	return t, true
}

// startWorkers makes sure at least n worker goroutines are running. Workers
// live for the rest of the process, blocked on wake when idle.
func startWorkers(n int) {
	workersMu.Lock()
	defer workersMu.Unlock()
	for ; workers < n; workers++ {
		go worker()
	}
}

// worker runs queued parts; after the last one it polls for workerSpin
// before it blocks again.
func worker() {
	for range wake {
		deadline := time.Now().Add(workerSpin)
		for time.Now().Before(deadline) {
			if t, ok := pop(); ok {
				t.run()
				deadline = time.Now().Add(workerSpin)
				continue
			}
			runtime.Gosched()
		}
	}
}
