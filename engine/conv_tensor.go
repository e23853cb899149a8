package engine

import (
	"fmt"
	"sync"

	"github.com/onnxq/onnxq/graph"
)

// floatIn returns the elements of a floating-point input as float32 (the
// tensor's own slice for Float, a converted copy for Double, Float16 and
// BFloat16). what names the input in errors.
func floatIn(t *graph.Tensor, what string) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s is %s, want a floating-point tensor", what, t.DType)
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

// floatOut wraps float32 results as a tensor of type dt (the type of the
// op's floating-point inputs), converting when dt is not Float.
func floatOut(dt graph.DType, shape []int64, data []float32) *graph.Tensor {
	switch dt {
	case graph.Double:
		d := make([]float64, len(data))
		for i, v := range data {
			d[i] = float64(v)
		}
		return graph.MustTensor(dt, shape, d)
	case graph.Float16, graph.BFloat16:
		conv := graph.Float32ToFloat16
		if dt == graph.BFloat16 {
			conv = graph.Float32ToBFloat16
		}
		d := make([]uint16, len(data))
		for i, v := range data {
			d[i] = conv(v)
		}
		return graph.MustTensor(dt, shape, d)
	}
	return graph.MustTensor(graph.Float, shape, data)
}

// optFloatIn is floatIn for an optional input: nil when omitted.
func optFloatIn(in []*graph.Tensor, i int, what string) ([]float32, error) {
	if i >= len(in) || in[i] == nil {
		return nil, nil
	}
	return floatIn(in[i], what)
}

// scratchPool recycles the float32 work buffers of the heavy kernels
// (im2col columns, per-thread gradient accumulators), so that a steady
// stream of runs does not allocate them again.
var scratchPool sync.Pool

// getScratch returns a buffer of n float32 values with unspecified
// contents. Give it back with putScratch.
func getScratch(n int) []float32 {
	if p, ok := scratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	} else if ok {
		scratchPool.Put(p)
	}
	return make([]float32, n)
}

// putScratch returns a buffer obtained from getScratch.
func putScratch(b []float32) {
	if cap(b) == 0 {
		return
	}
	b = b[:cap(b)]
	scratchPool.Put(&b)
}
