package engine

import (
	"slices"
	"sync"
	"unsafe"

	"github.com/onnxq/onnxq/graph"
)

// This file holds the runner's recycling of tensor buffers: float32 (the
// activations) and uint8/int8 (the quantized activations of QDQ models).
// A run tracks every such buffer held by a value computed by a node; when
// the last such value is freed (see Program.runGraph) and the buffer is
// not pinned, it goes to a free list, from which kernels take their
// output buffers (Context.Float32s, Context.RawFloat32s, newSlice). The
// free lists outlive the run: each Program keeps them in a sync.Pool, so
// a steady stream of inferences allocates little, and the garbage
// collector can still drop them when the program is idle.

// takeSlack is how much larger than a request (as a fraction, 1/2) a free
// buffer may be and still serve it. Models whose tensors grow a little at
// each stage (BlazeFace pads its channels by 4 to 8 at each block) need
// the margin; a larger one lets small requests take the buffers larger
// ones need next.
const takeSlack = 2

// freeLimit bounds the bytes the free lists hold to this multiple of the
// largest number of bytes live values held at once. The free lists are
// live heap, so the garbage collector's heap goal grows with them: on
// PP-OCRv4 det at 640x640 (32 MB live at the peak; Conv, BatchNorm and
// Resize not yet taking their outputs from the run) limits 1, 2 and 3
// gave 200, 192 and 157 MB allocated per inference, 134, 128 and 122 ms
// of process CPU, and 202, 283 and 356 MB peak RSS (154 MB, 254 MB and
// 163 ms without recycling). With every kernel taking its output from
// the run, 3 allocates 29 MB per inference against 73 MB for 2.
const freeLimit = 2

// sizeClass is the capacity allocated for a request of n: n rounded up
// to at most 1/8 above (the next number whose binary form is a 1, three
// free bits and zeros; n itself up to 16), so that a buffer serves any
// later request of its class.
func sizeClass(n int) int {
	if n <= 16 {
		return n
	}
	shift := 0
	for (n-1)>>shift >= 16 {
		shift++
	}
	return ((n-1)>>shift + 1) << shift
}

// budget is the byte account shared by a run's free lists.
type budget struct {
	bytes int64 // held in the free lists
	// limit is freeLimit times the largest number of bytes live values
	// held at once in any run so far (see runBuffers.liveBytes). When a
	// new buffer would exceed it, the buffers of its type freed longest
	// ago make room.
	limit int64
	seq   int64 // numbers the puts, for the eviction order
}

// freeLists holds the free buffers of one element type by capacity. It
// is kept between runs.
type freeLists[T any] struct {
	free map[int][]freeBuf[T] // by capacity, oldest first
	caps []int                // the keys of free, sorted
	in   map[*T]bool          // the last element (see bufferKey) of each buffer in free
	// hits and misses count the requests served from free and by a new
	// allocation, for tests and measurements.
	hits, misses int
}

// freeBuf is a free buffer and the number of its put.
type freeBuf[T any] struct {
	b   []T
	seq int64
}

func newFreeLists[T any]() freeLists[T] {
	return freeLists[T]{free: map[int][]freeBuf[T]{}, in: map[*T]bool{}}
}

// size is the number of bytes of n elements of T.
func size[T any](n int) int64 {
	var x T
	return int64(n) * int64(unsafe.Sizeof(x))
}

// take removes and returns a free buffer of capacity n to n+n/takeSlack,
// the smallest there is (the most recently freed of that capacity), or
// nil.
func (f *freeLists[T]) take(n int, bg *budget) []T {
	i, _ := slices.BinarySearch(f.caps, n)
	for ; i < len(f.caps) && f.caps[i] <= n+n/takeSlack; i++ {
		l := f.free[f.caps[i]]
		if len(l) == 0 {
			continue
		}
		b := l[len(l)-1].b
		l[len(l)-1] = freeBuf[T]{}
		f.free[f.caps[i]] = l[:len(l)-1]
		f.drop(b, bg)
		return b
	}
	return nil
}

// drop accounts for b leaving the free lists.
func (f *freeLists[T]) drop(b []T, bg *budget) {
	delete(f.in, &b[cap(b)-1])
	bg.bytes -= size[T](cap(b))
}

// put adds b (its whole capacity) to the free lists, unless it is there
// already or larger than the limit; the oldest free buffers of the type
// make room, and b is dropped if they cannot.
func (f *freeLists[T]) put(b []T, bg *budget) {
	c := cap(b)
	sz := size[T](c)
	if c == 0 || sz > bg.limit {
		return
	}
	b = b[:c]
	k := &b[c-1]
	if f.in[k] {
		return
	}
	for bg.bytes+sz > bg.limit {
		if !f.evictOldest(bg) {
			return
		}
	}
	l, ok := f.free[c]
	if !ok {
		i, _ := slices.BinarySearch(f.caps, c)
		f.caps = slices.Insert(f.caps, i, c)
	}
	bg.seq++
	f.free[c] = append(l, freeBuf[T]{b, bg.seq})
	f.in[k] = true
	bg.bytes += sz
}

// evictOldest drops the buffer put longest ago (to the garbage
// collector); false when there is none.
func (f *freeLists[T]) evictOldest(bg *budget) bool {
	oldest := -1
	for _, c := range f.caps {
		if l := f.free[c]; len(l) > 0 && (oldest < 0 || l[0].seq < f.free[oldest][0].seq) {
			oldest = c
		}
	}
	if oldest < 0 {
		return false
	}
	l := f.free[oldest]
	f.drop(l[0].b, bg)
	copy(l, l[1:])
	l[len(l)-1] = freeBuf[T]{} // no stale reference keeps a dropped buffer alive
	f.free[oldest] = l[:len(l)-1]
	return true
}

// runBuffers is the buffer bookkeeping of one run (shared by its
// subgraph runs). The free lists and the budget are kept between runs.
type runBuffers struct {
	mu     sync.Mutex
	f32    freeLists[float32]
	u8     freeLists[uint8]
	i8     freeLists[int8]
	budget budget
	// noReuse turns recycling and in-place execution off
	// (RunOptions.NoReuse).
	noReuse bool
	// live counts, per buffer, the environment entries of values computed
	// by nodes that hold it (views made by Reshape, Identity, Squeeze...
	// share their input's buffer).
	live map[unsafe.Pointer]int32
	// pinned buffers outlive the run or are not the run's to reuse: graph
	// inputs, initializers, subgraph inputs, Constant outputs. They are
	// never recycled nor overwritten in place.
	pinned map[unsafe.Pointer]bool
	// liveBytes is the capacity of the buffers in live, in bytes.
	liveBytes int64
}

// newRunBuffers returns empty bookkeeping.
func newRunBuffers() *runBuffers {
	return &runBuffers{
		f32:    newFreeLists[float32](),
		u8:     newFreeLists[uint8](),
		i8:     newFreeLists[int8](),
		live:   map[unsafe.Pointer]int32{},
		pinned: map[unsafe.Pointer]bool{},
	}
}

// reset prepares r, possibly used by an earlier run, for a new run: the
// free lists stay, the rest is cleared.
func (r *runBuffers) reset(noReuse bool) {
	clear(r.live)
	clear(r.pinned)
	r.liveBytes = 0
	r.noReuse = noReuse
}

// pin marks t's buffer as never recyclable nor writable.
func (r *runBuffers) pin(t *graph.Tensor) {
	if t == nil {
		return
	}
	if k, _, ok := bufferKey(t); ok {
		r.mu.Lock()
		r.pinned[k] = true
		r.mu.Unlock()
	}
}

// track counts a new environment entry holding t.
func (r *runBuffers) track(t *graph.Tensor) {
	k, bytes, ok := bufferKey(t)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[k]++
	if r.live[k] == 1 {
		r.liveBytes += bytes
		r.budget.limit = max(r.budget.limit, freeLimit*r.liveBytes)
	}
}

// release drops an environment entry holding t. When no entry holds its
// buffer any more and recycle is set, the buffer goes to the free lists
// unless it is pinned.
func (r *runBuffers) release(t *graph.Tensor, recycle bool) {
	k, bytes, ok := bufferKey(t)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.live[k]
	if !ok {
		return
	}
	if n > 1 {
		r.live[k] = n - 1
		return
	}
	delete(r.live, k)
	r.liveBytes -= bytes
	if !recycle || r.noReuse || r.pinned[k] {
		return
	}
	switch d := t.Data.(type) {
	case []float32:
		r.f32.put(d, &r.budget)
	case []uint8:
		r.u8.put(d, &r.budget)
	case []int8:
		r.i8.put(d, &r.budget)
	}
}

// sole reports whether t's buffer is held by exactly one environment
// entry and not pinned: the condition for overwriting it in place.
func (r *runBuffers) sole(t *graph.Tensor) bool {
	k, _, ok := bufferKey(t)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.noReuse && r.live[k] == 1 && !r.pinned[k]
}

// getBuf returns a buffer of n elements from f (zeroed when zero is set,
// else with unspecified contents), or a new one.
func getBuf[T any](r *runBuffers, f *freeLists[T], n int, zero bool) []T {
	if n <= 0 {
		return []T{}
	}
	r.mu.Lock()
	var b []T
	if !r.noReuse {
		if b = f.take(n, &r.budget); b != nil {
			f.hits++
		} else {
			f.misses++
		}
	}
	r.mu.Unlock()
	if b == nil {
		return make([]T, n, sizeClass(n))
	}
	b = b[:n]
	if zero {
		clear(b)
	}
	return b
}

// Float32s returns a zeroed buffer of n float32 values for a kernel's
// output, recycled from values the run has freed when it can be. Kernels
// called outside a run (a bare Context) get a new slice. Like make, it
// is safe for kernels that accumulate into their output.
func (c *Context) Float32s(n int) []float32 {
	if c == nil || c.bufs == nil {
		return make([]float32, n)
	}
	return getBuf(c.bufs, &c.bufs.f32, n, true)
}

// RawFloat32s is Float32s without the zeroing: the contents are
// unspecified (old data of a freed value), so the kernel must write every
// element.
func (c *Context) RawFloat32s(n int) []float32 {
	if c == nil || c.bufs == nil {
		return make([]float32, n)
	}
	return getBuf(c.bufs, &c.bufs.f32, n, false)
}

// pin tells the runner that t's data outlives the node's run (a cache
// kept between runs, as Constant's decoded attribute): the runner never
// recycles it nor lets a kernel overwrite it in place. Kernels whose
// outputs are fresh buffers or views of their inputs need not call it.
func (c *Context) pin(t *graph.Tensor) {
	if c != nil && c.bufs != nil {
		c.bufs.pin(t)
	}
}

// newSlice returns a slice of n elements of T for a kernel output: for
// float32, uint8 and int8 a buffer from ctx (zeroed when zero is set,
// else with unspecified contents), for other types (and outside a run)
// make.
func newSlice[T any](ctx *Context, n int, zero bool) []T {
	if ctx == nil || ctx.bufs == nil {
		return make([]T, n)
	}
	r := ctx.bufs
	var t []T
	switch any(t).(type) {
	case []float32:
		return any(getBuf(r, &r.f32, n, zero)).([]T)
	case []uint8:
		return any(getBuf(r, &r.u8, n, zero)).([]T)
	case []int8:
		return any(getBuf(r, &r.i8, n, zero)).([]T)
	}
	return make([]T, n)
}
