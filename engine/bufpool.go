package engine

import (
	"slices"
	"sync"

	"github.com/onnxq/onnxq/graph"
)

// This file holds the runner's recycling of float32 buffers. A run tracks
// every float32 buffer held by a value computed by a node; when the last
// such value is freed (see Program.runGraph) and the buffer is not
// pinned, it goes to a free list, from which kernels take their output
// buffers (Context.Float32s, Context.RawFloat32s). The free lists outlive
// the run: each Program keeps them in a sync.Pool, so a steady stream of
// inferences allocates little, and the garbage collector can still drop
// them when the program is idle.

// takeSlack is how much larger than a request (as a fraction, 1/2) a free
// buffer may be and still serve it. Models whose tensors grow a little at
// each stage (BlazeFace pads its channels by 4 to 8 at each block) need
// the margin; a larger one lets small requests take the buffers larger
// ones need next. Measured on the reference models: see docs/engine.md.
const takeSlack = 2

// freeLimit bounds the bytes the free lists hold to this multiple of the
// largest number of bytes live values held at once: PP-OCRv4 det at
// 640x640 (32 MB live at the peak) needs all its 3 to stop missing, 2
// still misses 40 MB per inference.
const freeLimit = 3

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

// freeLists is the recyclable part of a run's buffers: free float32
// buffers by capacity. It is kept between runs.
type freeLists struct {
	free  map[int][]freeBuf // by capacity, oldest first
	caps  []int             // the keys of free, sorted
	in    map[*float32]bool // the keys (bufferKey) of the buffers in free
	bytes int64             // bytes held in free
	// limit bounds bytes: freeLimit times the largest number of bytes
	// live values held at once in any run so far (see
	// runBuffers.liveBytes). When a new buffer would exceed it, the
	// buffers freed longest ago make room.
	limit int64
	seq   int64 // numbers the puts, for the eviction order
	// hits and misses count the requests served from free and by a new
	// allocation, for tests and measurements.
	hits, misses int
}

// freeBuf is a free buffer and the number of its put.
type freeBuf struct {
	b   []float32
	seq int64
}

// take removes and returns a free buffer of capacity n to n+n/takeSlack,
// the smallest there is (the most recently freed of that capacity), or
// nil.
func (f *freeLists) take(n int) []float32 {
	i, _ := slices.BinarySearch(f.caps, n)
	for ; i < len(f.caps) && f.caps[i] <= n+n/takeSlack; i++ {
		l := f.free[f.caps[i]]
		if len(l) == 0 {
			continue
		}
		b := l[len(l)-1].b
		l[len(l)-1] = freeBuf{}
		f.free[f.caps[i]] = l[:len(l)-1]
		f.drop(b)
		return b
	}
	return nil
}

// drop accounts for b leaving the free lists.
func (f *freeLists) drop(b []float32) {
	delete(f.in, &b[cap(b)-1])
	f.bytes -= int64(cap(b)) * 4
}

// put adds b (its whole capacity) to the free lists, unless it is there
// already or larger than the limit; the oldest free buffers make room.
func (f *freeLists) put(b []float32) {
	c := cap(b)
	size := int64(c) * 4
	if c == 0 || size > f.limit {
		return
	}
	b = b[:c]
	k := &b[c-1]
	if f.in[k] {
		return
	}
	for f.bytes+size > f.limit {
		f.evictOldest()
	}
	l, ok := f.free[c]
	if !ok {
		i, _ := slices.BinarySearch(f.caps, c)
		f.caps = slices.Insert(f.caps, i, c)
	}
	f.seq++
	f.free[c] = append(l, freeBuf{b, f.seq})
	f.in[k] = true
	f.bytes += size
}

// evictOldest drops the buffer put longest ago (to the garbage
// collector).
func (f *freeLists) evictOldest() {
	oldest := -1
	for _, c := range f.caps {
		if l := f.free[c]; len(l) > 0 && (oldest < 0 || l[0].seq < f.free[oldest][0].seq) {
			oldest = c
		}
	}
	l := f.free[oldest]
	f.drop(l[0].b)
	f.free[oldest] = append(l[:0], l[1:]...)
}

// runBuffers is the buffer bookkeeping of one run (shared by its
// subgraph runs).
type runBuffers struct {
	mu sync.Mutex
	// free holds the recyclable buffers; it is kept between runs.
	free freeLists
	// noReuse turns recycling and in-place execution off
	// (RunOptions.NoReuse).
	noReuse bool
	// live counts, per buffer, the environment entries of values computed
	// by nodes that hold it (views made by Reshape, Identity, Squeeze...
	// share their input's buffer).
	live map[*float32]int32
	// pinned buffers outlive the run or are not the run's to reuse: graph
	// inputs, initializers, subgraph inputs, Constant outputs. They are
	// never recycled nor overwritten in place.
	pinned map[*float32]bool
	// liveBytes is the capacity of the buffers in live, in bytes.
	liveBytes int64
}

// newRunBuffers returns empty bookkeeping.
func newRunBuffers() *runBuffers {
	return &runBuffers{
		free:   freeLists{free: map[int][]freeBuf{}, in: map[*float32]bool{}},
		live:   map[*float32]int32{},
		pinned: map[*float32]bool{},
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
	if k, ok := bufferKey(t); ok {
		r.mu.Lock()
		r.pinned[k] = true
		r.mu.Unlock()
	}
}

// track counts a new environment entry holding t.
func (r *runBuffers) track(t *graph.Tensor) {
	k, ok := bufferKey(t)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[k]++
	if r.live[k] == 1 {
		r.liveBytes += int64(cap(t.Data.([]float32))) * 4
		r.free.limit = max(r.free.limit, freeLimit*r.liveBytes)
	}
}

// release drops an environment entry holding t. When no entry holds its
// buffer any more and recycle is set, the buffer goes to the free lists
// unless it is pinned.
func (r *runBuffers) release(t *graph.Tensor, recycle bool) {
	k, ok := bufferKey(t)
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
	d := t.Data.([]float32)
	r.liveBytes -= int64(cap(d)) * 4
	if recycle && !r.noReuse && !r.pinned[k] {
		r.free.put(d)
	}
}

// sole reports whether t's buffer is held by exactly one environment
// entry and not pinned: the condition for overwriting it in place.
func (r *runBuffers) sole(t *graph.Tensor) bool {
	k, ok := bufferKey(t)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.noReuse && r.live[k] == 1 && !r.pinned[k]
}

// get returns a buffer of n float32 values (zeroed when zero is set, else
// with unspecified contents).
func (r *runBuffers) get(n int, zero bool) []float32 {
	if n <= 0 {
		return []float32{}
	}
	r.mu.Lock()
	var b []float32
	if !r.noReuse {
		if b = r.free.take(n); b != nil {
			r.free.hits++
		} else {
			r.free.misses++
		}
	}
	r.mu.Unlock()
	if b == nil {
		return make([]float32, n, sizeClass(n))
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
	return c.bufs.get(n, true)
}

// RawFloat32s is Float32s without the zeroing: the contents are
// unspecified (old data of a freed value), so the kernel must write every
// element.
func (c *Context) RawFloat32s(n int) []float32 {
	if c == nil || c.bufs == nil {
		return make([]float32, n)
	}
	return c.bufs.get(n, false)
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
// float32 a buffer from ctx (zeroed when zero is set), else make.
func newSlice[T any](ctx *Context, n int, zero bool) []T {
	var t []T
	if _, ok := any(t).([]float32); ok && ctx != nil && ctx.bufs != nil {
		return any(ctx.bufs.get(n, zero)).([]T)
	}
	return make([]T, n)
}
