package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// dataOps moves elements of a tensor's data slice without knowing its
// element type: shape operators (Transpose, Gather, Slice, Expand, Tile,
// Concat, Where) work on every type through it. typedOps[T] implements it
// once per Go element type; opsFor picks the implementation.
type dataOps interface {
	// take returns out with out[i] = src[idx[i]].
	take(src any, idx []int) any
	// concat joins srcs: for each of outer rows, block[k] elements of
	// srcs[k] in turn.
	concat(srcs []any, outer int, block []int) any
	// where returns out[i] = x[xi[i]] if cond[ci[i]] else y[yi[i]].
	where(cond []bool, ci []int, x any, xi []int, y any, yi []int) any
	// fill returns n copies of v[0].
	fill(v any, n int) any
	// equal reports whether a[i] == b[j] (NaN != NaN for floats).
	equal(a any, i int, b any, j int) bool
	// strided returns the elements of src read as a strided view: shape
	// dims walked row-major, element offset base + Σ idx[d]·strides[d].
	strided(src any, shape []int64, strides []int, base int) any
	// put returns a copy of dst with dst[idx[i]] = src[i] (later writes
	// win).
	put(dst any, idx []int, src any) any
}

// typedOps takes float32 output buffers from ctx (nil: make).
type typedOps[T comparable] struct{ ctx *Context }

func (o typedOps[T]) take(src any, idx []int) any {
	s := src.([]T)
	out := newSlice[T](o.ctx, len(idx), false)
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

func (o typedOps[T]) concat(srcs []any, outer int, block []int) any {
	total := 0
	for _, b := range block {
		total += b
	}
	out := newSlice[T](o.ctx, total*outer, false)
	at := 0
	for r := 0; r < outer; r++ {
		for k, src := range srcs {
			at += copy(out[at:], src.([]T)[r*block[k]:(r+1)*block[k]])
		}
	}
	return out
}

func (o typedOps[T]) where(cond []bool, ci []int, x any, xi []int, y any, yi []int) any {
	xs, ys := x.([]T), y.([]T)
	out := newSlice[T](o.ctx, len(ci), false)
	for i := range out {
		if cond[ci[i]] {
			out[i] = xs[xi[i]]
		} else {
			out[i] = ys[yi[i]]
		}
	}
	return out
}

func (o typedOps[T]) fill(v any, n int) any {
	x := v.([]T)[0]
	out := newSlice[T](o.ctx, n, false)
	for i := range out {
		out[i] = x
	}
	return out
}

func (o typedOps[T]) strided(src any, shape []int64, strides []int, base int) any {
	s := src.([]T)
	n := ShapeSize(shape)
	out := newSlice[T](o.ctx, n, false)
	r := len(shape)
	if n == 0 {
		return out
	}
	if r == 0 {
		out[0] = s[base]
		return out
	}
	inner, is := int(shape[r-1]), strides[r-1]
	pos := make([]int, r-1)
	off := base
	for o := 0; o < n; o += inner {
		d := out[o : o+inner]
		switch is {
		case 1:
			copy(d, s[off:off+inner])
		case 0:
			v := s[off]
			for i := range d {
				d[i] = v
			}
		default:
			j := off
			for i := range d {
				d[i] = s[j]
				j += is
			}
		}
		for k := r - 2; k >= 0; k-- {
			pos[k]++
			off += strides[k]
			if pos[k] < int(shape[k]) {
				break
			}
			off -= pos[k] * strides[k]
			pos[k] = 0
		}
	}
	return out
}

func (o typedOps[T]) put(dst any, idx []int, src any) any {
	out := newSlice[T](o.ctx, len(dst.([]T)), false)
	copy(out, dst.([]T))
	s := src.([]T)
	for i, j := range idx {
		out[j] = s[i]
	}
	return out
}

func (typedOps[T]) equal(a any, i int, b any, j int) bool { return a.([]T)[i] == b.([]T)[j] }

// opsFor returns the element mover for a tensor data slice.
func opsFor(data any) (dataOps, error) { return opsWith(nil, data) }

// opsWith is opsFor with float32 results in buffers from ctx.
func opsWith(ctx *Context, data any) (dataOps, error) {
	switch data.(type) {
	case []float32:
		return typedOps[float32]{ctx}, nil
	case []float64:
		return typedOps[float64]{}, nil
	case []int64:
		return typedOps[int64]{}, nil
	case []int32:
		return typedOps[int32]{}, nil
	case []int16:
		return typedOps[int16]{}, nil
	case []int8:
		return typedOps[int8]{}, nil
	case []uint8:
		return typedOps[uint8]{}, nil
	case []uint16:
		return typedOps[uint16]{}, nil
	case []uint32:
		return typedOps[uint32]{}, nil
	case []uint64:
		return typedOps[uint64]{}, nil
	case []bool:
		return typedOps[bool]{}, nil
	case []string:
		return typedOps[string]{}, nil
	case []complex64:
		return typedOps[complex64]{}, nil
	case []complex128:
		return typedOps[complex128]{}, nil
	}
	return nil, fmt.Errorf("unsupported tensor data %T", data)
}

// view is the result of an index plan: the output shape and where each
// output element comes from, either explicit input offsets (idx) or a
// strided layout (strides and base, when idx is nil).
type view struct {
	shape   []int64
	idx     []int
	strides []int
	base    int
}

// offsets returns the input offset of every output element.
func (v *view) offsets() []int {
	if v.idx != nil {
		return v.idx
	}
	return stridedIndex(v.shape, v.strides, v.base)
}

// apply copies t's elements as the view says into a new tensor.
func (v *view) apply(t *graph.Tensor) (*graph.Tensor, error) { return v.applyIn(nil, t) }

// applyIn is apply with a float32 result in a buffer from ctx.
func (v *view) applyIn(ctx *Context, t *graph.Tensor) (*graph.Tensor, error) {
	ops, err := opsWith(ctx, t.Data)
	if err != nil {
		return nil, err
	}
	if v.idx != nil {
		return out(t.DType, v.shape, ops.take(t.Data, v.idx)), nil
	}
	return out(t.DType, v.shape, ops.strided(t.Data, v.shape, v.strides, v.base)), nil
}

// broadcastStrides returns the strides that read a tensor of shape in as
// shape out (0 along broadcast dims).
func broadcastStrides(in, outShape []int64) []int {
	st := Strides(in)
	r := len(outShape)
	bs := make([]int, r)
	for i := range in {
		d := r - len(in) + i
		if in[i] != 1 {
			bs[d] = st[i]
		}
	}
	return bs
}

// takeData gathers t's elements at idx into a new tensor of the given shape.
func takeData(t *graph.Tensor, idx []int, shape []int64) (*graph.Tensor, error) {
	ops, err := opsFor(t.Data)
	if err != nil {
		return nil, err
	}
	return out(t.DType, shape, ops.take(t.Data, idx)), nil
}
