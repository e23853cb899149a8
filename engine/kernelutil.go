package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// This file holds the small helpers kernels share: axis normalization,
// reading shape-like integer inputs, shape arithmetic and output
// construction.

// NormAxis maps an axis in [-rank, rank) to [0, rank).
func NormAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// NormAxes normalizes a list of axes (see NormAxis) and rejects repeats.
func NormAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d is repeated in %v", a, axes)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

// TensorInts reads an integer tensor input (a shape, axes, indices) as
// int64 values; what names the input in errors.
func TensorInts(t *graph.Tensor, what string) ([]int64, error) {
	if t == nil {
		return nil, fmt.Errorf("input %s is missing", what)
	}
	if !t.DType.IsInteger() {
		return nil, fmt.Errorf("input %s must be an integer tensor, got %s", what, t.DType)
	}
	return t.Int64s()
}

// ScalarFloat reads a one-element tensor of any numeric type as float64.
func ScalarFloat(t *graph.Tensor, what string) (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("input %s must have one element, has shape %v", what, t.Shape)
	}
	if d, ok := t.Data.([]float64); ok {
		return d[0], nil
	}
	if t.DType.IsInteger() {
		v, err := t.Int64s()
		if err != nil {
			return 0, err
		}
		return float64(v[0]), nil
	}
	f, err := t.Float32s()
	if err != nil {
		return 0, fmt.Errorf("input %s: %w", what, err)
	}
	return float64(f[0]), nil
}

// ShapeSize returns the number of elements of a shape.
func ShapeSize(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// Strides returns the row-major element strides of a shape.
func Strides(shape []int64) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= int(shape[i])
	}
	return s
}

// out builds a kernel output without revalidating: data must match shape.
func out(dt graph.DType, shape []int64, data any) *graph.Tensor {
	return &graph.Tensor{DType: dt, Shape: append([]int64{}, shape...), Data: data}
}

// f32out builds a float32 kernel output.
func f32out(shape []int64, data []float32) *graph.Tensor { return out(graph.Float, shape, data) }

// reshaped returns t's data under another shape (sharing the data, which
// is never written after construction).
func reshaped(t *graph.Tensor, shape []int64) *graph.Tensor {
	return &graph.Tensor{DType: t.DType, Shape: append([]int64{}, shape...), Data: t.Data}
}

// one returns a single-output result.
func one(t *graph.Tensor) ([]*graph.Tensor, error) { return []*graph.Tensor{t}, nil }

// optIn returns input i, or nil when it is omitted.
func optIn(in []*graph.Tensor, i int) *graph.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// needInputs checks that inputs 0..n-1 are present.
func needInputs(in []*graph.Tensor, n int) error {
	for i := 0; i < n; i++ {
		if i >= len(in) || in[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
	}
	return nil
}

// stridedIndex returns, for every element of outShape in row-major order,
// base + sum(idx[d] * strides[d]): the offsets a strided view (transpose,
// slice, broadcast) reads.
func stridedIndex(outShape []int64, strides []int, base int) []int {
	n := ShapeSize(outShape)
	idx := make([]int, n)
	if n == 0 {
		return idx
	}
	r := len(outShape)
	if r == 0 {
		idx[0] = base
		return idx
	}
	inner, is := int(outShape[r-1]), strides[r-1]
	pos := make([]int, r-1)
	off := base
	for o := 0; o < n; o += inner {
		for i := 0; i < inner; i++ {
			idx[o+i] = off + i*is
		}
		for d := r - 2; d >= 0; d-- {
			pos[d]++
			off += strides[d]
			if pos[d] < int(outShape[d]) {
				break
			}
			off -= pos[d] * strides[d]
			pos[d] = 0
		}
	}
	return idx
}

// checkTensorValues rejects a node whose inputs or outputs are declared
// as sequences, maps or optionals: the engine computes tensors only.
func checkTensorValues(n *graph.Node) error {
	for _, vs := range [][]*graph.Value{n.Inputs, n.Outputs} {
		for _, v := range vs {
			if v == nil || v.Type == nil || v.Type.Value == nil {
				continue
			}
			if v.Type.GetTensorType() == nil {
				return fmt.Errorf("value %q is not a tensor (sequence, map and optional values are not supported)", v.Name)
			}
		}
	}
	return nil
}
