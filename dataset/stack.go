package dataset

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// Row returns slice i along the first axis of t, a tensor of shape
// [N, d1, ...], as a tensor of shape [d1, ...] that shares t's data (no
// copy; 4-bit types hold one element per slice entry, so they slice too).
func Row(t *graph.Tensor, i int) (*graph.Tensor, error) {
	if t.Rank() == 0 {
		return nil, fmt.Errorf("a scalar has no rows")
	}
	if i < 0 || int64(i) >= t.Shape[0] {
		return nil, fmt.Errorf("row %d is out of range: the first axis has %d", i, t.Shape[0])
	}
	rowLen := 1
	for _, d := range t.Shape[1:] {
		rowLen *= int(d)
	}
	v := reflect.ValueOf(t.Data)
	a, b := i*rowLen, (i+1)*rowLen
	return graph.NewTensor(t.DType, t.Shape[1:], v.Slice3(a, b, b).Interface())
}

// Stack joins tensors of one type and shape along a new first axis: n
// tensors of shape [d1, ...] give one of shape [n, d1, ...].
func Stack(ts []*graph.Tensor) (*graph.Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("nothing to stack")
	}
	first := ts[0]
	data := reflect.MakeSlice(reflect.TypeOf(first.Data), 0, len(ts)*first.Len())
	for i, t := range ts {
		if t.DType != first.DType {
			return nil, fmt.Errorf("tensor %d is %s, tensor 0 is %s", i, t.DType, first.DType)
		}
		if !slices.Equal(t.Shape, first.Shape) {
			return nil, fmt.Errorf("tensor %d has shape %v, tensor 0 has %v", i, t.Shape, first.Shape)
		}
		data = reflect.AppendSlice(data, reflect.ValueOf(t.Data))
	}
	shape := append([]int64{int64(len(ts))}, first.Shape...)
	return graph.NewTensor(first.DType, shape, data.Interface())
}

// Stacker collects samples (maps of named tensors, such as model outputs
// run by run) and stacks each name along a new first axis: the layout of
// the arrays in an .npz that onnxq reads and writes.
type Stacker struct {
	names []string
	parts map[string][]*graph.Tensor
}

// Add appends one sample. Every sample must have the same names.
func (s *Stacker) Add(sample map[string]*graph.Tensor) error {
	names := make([]string, 0, len(sample))
	for n := range sample {
		names = append(names, n)
	}
	sort.Strings(names)
	if s.parts == nil {
		s.names, s.parts = names, map[string][]*graph.Tensor{}
	} else if strings.Join(names, "\x00") != strings.Join(s.names, "\x00") {
		return fmt.Errorf("sample %d has arrays %v, earlier samples had %v", s.Len(), names, s.names)
	}
	for _, n := range names {
		s.parts[n] = append(s.parts[n], sample[n])
	}
	return nil
}

// Len returns the number of samples added.
func (s *Stacker) Len() int {
	if len(s.names) == 0 {
		return 0
	}
	return len(s.parts[s.names[0]])
}

// Arrays returns the stacked arrays.
func (s *Stacker) Arrays() (map[string]*graph.Tensor, error) {
	out := make(map[string]*graph.Tensor, len(s.names))
	for _, n := range s.names {
		t, err := Stack(s.parts[n])
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}
