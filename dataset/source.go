package dataset

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// Source is a set of samples read on demand. Sample(i) returns one complete
// set of model inputs, keyed by input name; it may decode a file, so a
// caller streams through a large set by asking for one sample at a time.
// The returned tensors are not modified by anyone (graph.Tensor rule) and
// may share memory with the source.
type Source interface {
	// Len returns the number of samples.
	Len() int
	// Sample returns sample i, 0 <= i < Len().
	Sample(i int) (map[string]*graph.Tensor, error)
}

// ArraySource serves stacked arrays: the first axis of each array indexes
// samples, and sample i of an array of shape [N, d1, d2, ...] is its slice
// i, of shape [d1, d2, ...]. Slices are views of the arrays: nothing is
// copied.
type ArraySource struct {
	names  []string
	arrays map[string]*graph.Tensor
	n      int
}

// NewArraySource returns a source over arrays, which must all have at
// least one dimension and the same first dimension (the number of
// samples).
func NewArraySource(arrays map[string]*graph.Tensor) (*ArraySource, error) {
	if len(arrays) == 0 {
		return nil, fmt.Errorf("no arrays given")
	}
	s := &ArraySource{arrays: arrays, n: -1}
	for name := range arrays {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	for _, name := range s.names {
		t := arrays[name]
		if t.Rank() == 0 {
			return nil, fmt.Errorf("array %q is a scalar: its first axis must index the samples", name)
		}
		if s.n < 0 {
			s.n = int(t.Shape[0])
		} else if int(t.Shape[0]) != s.n {
			return nil, fmt.Errorf("arrays disagree on the number of samples (first axis): %q has %d, %q has %d",
				s.names[0], s.n, name, t.Shape[0])
		}
	}
	return s, nil
}

// Names returns the array names in sorted order.
func (s *ArraySource) Names() []string { return append([]string{}, s.names...) }

// Array returns the stacked array called name, or nil.
func (s *ArraySource) Array(name string) *graph.Tensor { return s.arrays[name] }

// Len returns the number of samples.
func (s *ArraySource) Len() int { return s.n }

// Sample returns slice i of every array.
func (s *ArraySource) Sample(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= s.n {
		return nil, fmt.Errorf("sample %d is out of range: there are %d", i, s.n)
	}
	out := make(map[string]*graph.Tensor, len(s.names))
	for _, name := range s.names {
		t, err := Row(s.arrays[name], i)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// SplitLabels removes the array called key from arrays and returns it as
// integer labels, one per sample. The array must be an integer array of
// shape [N] (or [N, 1]).
func SplitLabels(arrays map[string]*graph.Tensor, key string) (rest map[string]*graph.Tensor, labels []int64, err error) {
	t, ok := arrays[key]
	if !ok {
		names := make([]string, 0, len(arrays))
		for n := range arrays {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, nil, fmt.Errorf("there is no label array %q (arrays: %s)", key, strings.Join(names, ", "))
	}
	if labels, err = Labels(t); err != nil {
		return nil, nil, fmt.Errorf("label array %q: %w", key, err)
	}
	rest = make(map[string]*graph.Tensor, len(arrays)-1)
	for n, a := range arrays {
		if n != key {
			rest[n] = a
		}
	}
	return rest, labels, nil
}

// Labels returns the values of an integer label tensor of shape [N] or
// [N, 1] as int64.
func Labels(t *graph.Tensor) ([]int64, error) {
	if !t.DType.IsInteger() {
		return nil, fmt.Errorf("labels must be integers, got %s", t.DType)
	}
	if !(t.Rank() == 1 || t.Rank() == 2 && t.Shape[1] == 1) {
		return nil, fmt.Errorf("labels must have shape [N] or [N, 1], got %v", t.Shape)
	}
	return t.Int64s()
}

// Slice returns the samples from, from+1, ..., to-1 of src.
func Slice(src Source, from, to int) (Source, error) {
	if from < 0 || to < from || to > src.Len() {
		return nil, fmt.Errorf("samples [%d, %d) are out of range: there are %d", from, to, src.Len())
	}
	return &sliceSource{src: src, from: from, n: to - from}, nil
}

type sliceSource struct {
	src     Source
	from, n int
}

func (s *sliceSource) Len() int { return s.n }

func (s *sliceSource) Sample(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= s.n {
		return nil, fmt.Errorf("sample %d is out of range: there are %d", i, s.n)
	}
	return s.src.Sample(s.from + i)
}
