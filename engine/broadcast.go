package engine

import (
	"fmt"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// BroadcastShape returns the shape numpy-style (multidirectional)
// broadcasting gives the shapes, or an error naming the mismatch.
func BroadcastShape(shapes ...[]int64) ([]int64, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapes)
			}
		}
	}
	return out, nil
}

// bplan iterates over an output shape with inputs broadcast to it, in runs
// of consecutive output elements along which every input is either
// contiguous (stride 1) or constant (stride 0).
type bplan struct {
	n      int   // output elements
	inner  int   // elements per inner block
	istep  []int // per input: 0 or 1 along the inner block
	oshape []int // outer dims (the output dims before the inner block)
	ostr   [][]int
}

// newPlan prepares iteration over out for inputs of the given shapes, each
// of which must broadcast to out.
func newPlan(out []int64, ins ...[]int64) *bplan {
	r := len(out)
	// Per input and output dim: the input's stride, 0 where broadcast.
	str := make([][]int, len(ins))
	for k, s := range ins {
		str[k] = make([]int, r)
		acc := 1
		for i := len(s) - 1; i >= 0; i-- {
			d := r - len(s) + i
			if s[i] != 1 || out[d] == 1 {
				str[k][d] = acc
			}
			acc *= int(s[i])
		}
	}
	// Grow the inner block from the last dim while every input keeps one
	// kind (full or broadcast) across it. Size-1 output dims fit anything.
	kind := make([]int, len(ins)) // -1 undecided, 0 broadcast, 1 full
	for k := range kind {
		kind[k] = -1
	}
	start := r
	inner := 1
	for d := r - 1; d >= 0; d-- {
		if out[d] == 1 {
			start = d
			continue
		}
		ok := true
		for k := range ins {
			kd := 0
			if str[k][d] != 0 {
				kd = 1
				// Contiguity: the stride must equal the block length so far.
				if str[k][d] != inner {
					ok = false
				}
			}
			if kind[k] != -1 && kind[k] != kd {
				ok = false
			}
		}
		if !ok {
			break
		}
		for k := range ins {
			kind[k] = 0
			if str[k][d] != 0 {
				kind[k] = 1
			}
		}
		inner *= int(out[d])
		start = d
	}
	p := &bplan{n: ShapeSize(out), inner: inner, istep: make([]int, len(ins))}
	for k := range ins {
		if kind[k] == 1 {
			p.istep[k] = 1
		}
	}
	for d := 0; d < start; d++ {
		p.oshape = append(p.oshape, int(out[d]))
	}
	p.ostr = make([][]int, len(ins))
	for k := range ins {
		p.ostr[k] = str[k][:start]
	}
	return p
}

// run calls fn for consecutive runs covering output elements [lo, hi):
// the run starts at output element o and has n elements; input k starts at
// offs[k] and advances by p.istep[k] per element.
func (p *bplan) run(lo, hi int, fn func(o int, offs []int, n int)) {
	if lo >= hi {
		return
	}
	nin := len(p.istep)
	offs := make([]int, nin)
	base := make([]int, nin)
	idx := make([]int, len(p.oshape))
	blk := lo / p.inner
	// Decompose the first block index into the outer multi-index.
	rem := blk
	for d := len(p.oshape) - 1; d >= 0; d-- {
		idx[d] = rem % p.oshape[d]
		rem /= p.oshape[d]
	}
	for k := 0; k < nin; k++ {
		for d, i := range idx {
			base[k] += i * p.ostr[k][d]
		}
	}
	pos := lo - blk*p.inner
	for o := lo; o < hi; {
		n := min(p.inner-pos, hi-o)
		for k := 0; k < nin; k++ {
			offs[k] = base[k] + pos*p.istep[k]
		}
		fn(o, offs, n)
		o += n
		pos = 0
		// Advance the outer odometer.
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			for k := 0; k < nin; k++ {
				base[k] += p.ostr[k][d]
			}
			if idx[d] < p.oshape[d] {
				break
			}
			for k := 0; k < nin; k++ {
				base[k] -= idx[d] * p.ostr[k][d]
			}
			idx[d] = 0
		}
	}
}

// parallelRuns runs p over all output elements, split across threads when
// the output is large.
func (p *bplan) parallelRuns(fn func(o int, offs []int, n int)) {
	ParallelFor(p.n, 1<<15, func(lo, hi int) { p.run(lo, hi, fn) })
}

// BroadcastIndex returns, for every element of the output shape, the
// offset of the element of an input of shape in that broadcasting maps to
// it.
func BroadcastIndex(in, outShape []int64) []int {
	p := newPlan(outShape, in)
	idx := make([]int, p.n)
	p.run(0, p.n, func(o int, offs []int, n int) {
		off, step := offs[0], p.istep[0]
		for i := 0; i < n; i++ {
			idx[o+i] = off + i*step
		}
	})
	return idx
}

// vecFunc computes a run of a binary elementwise operation: dst[i] =
// f(a[i*sa], b[i*sb]) with strides sa, sb in {0, 1}.
type vecFunc[T, U any] func(dst []U, a []T, sa int, b []T, sb int)

// vecOf lifts a scalar function to a vecFunc.
func vecOf[T, U any](f func(T, T) U) vecFunc[T, U] {
	return func(dst []U, a []T, sa int, b []T, sb int) {
		switch {
		case sa == 1 && sb == 1:
			a, b = a[:len(dst)], b[:len(dst)]
			for i := range dst {
				dst[i] = f(a[i], b[i])
			}
		case sa == 1:
			y := b[0]
			a = a[:len(dst)]
			for i := range dst {
				dst[i] = f(a[i], y)
			}
		case sb == 1:
			x := a[0]
			b = b[:len(dst)]
			for i := range dst {
				dst[i] = f(x, b[i])
			}
		default:
			v := f(a[0], b[0])
			for i := range dst {
				dst[i] = v
			}
		}
	}
}

// broadcastBinary applies vec over a and b broadcast together and returns
// the result and its shape. A float32 result's buffer comes from ctx
// (which may be nil).
func broadcastBinary[T, U any](ctx *Context, a []T, ash []int64, b []T, bsh []int64, vec vecFunc[T, U]) ([]U, []int64, error) {
	shape, err := BroadcastShape(ash, bsh)
	if err != nil {
		return nil, nil, err
	}
	p := newPlan(shape, ash, bsh)
	dst := newSlice[U](ctx, p.n, false) // the runs cover every element
	p.parallelRuns(func(o int, offs []int, n int) {
		vec(dst[o:o+n], a[offs[0]:], p.istep[0], b[offs[1]:], p.istep[1])
	})
	return dst, shape, nil
}

// Unbroadcast sums a gradient of the broadcast shape back to the shape of
// the input it was broadcast from (the reverse of broadcasting). It
// returns g itself when the shapes already agree.
func Unbroadcast(g *graph.Tensor, shape []int64) (*graph.Tensor, error) {
	if slices.Equal(g.Shape, shape) {
		return g, nil
	}
	src, err := g.Float32s()
	if err != nil {
		return nil, err
	}
	if _, err := BroadcastShape(shape, g.Shape); err != nil {
		return nil, err
	}
	p := newPlan(g.Shape, shape)
	dst := make([]float32, ShapeSize(shape))
	p.run(0, p.n, func(o int, offs []int, n int) {
		if p.istep[0] == 0 {
			var s float64
			for _, v := range src[o : o+n] {
				s += float64(v)
			}
			dst[offs[0]] += float32(s)
			return
		}
		d := dst[offs[0] : offs[0]+n]
		for i, v := range src[o : o+n] {
			d[i] += v
		}
	})
	return f32out(shape, dst), nil
}
