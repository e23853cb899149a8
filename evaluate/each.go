package evaluate

import (
	"fmt"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// EachOptions adjusts Model.Each.
type EachOptions struct {
	// Batch is how many samples one engine call may run together. Samples
	// are joined along the first axis, which is only possible when every
	// model input has a dynamic first (batch) dimension; a model with a
	// fixed batch dimension (mnist-7's is 1) runs one sample at a time
	// whatever Batch says. 0 or 1 means one sample at a time.
	Batch int
	// Progress, if set, is called with the number of samples finished after
	// each engine call.
	Progress func(done int)
}

// Each runs the model on every sample of src, in order, and calls fn with
// each sample's outputs. Every sample is checked against the model's
// inputs before it runs (names, element types, static dimensions, finite
// values). fn must not modify the tensors.
func (m *Model) Each(src dataset.Source, opts EachOptions, fn func(i int, outputs map[string]*graph.Tensor) error) error {
	batch := opts.Batch
	if batch < 1 || !m.Batchable() {
		batch = 1
	}
	n := src.Len()
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		samples := make([]map[string]*graph.Tensor, 0, hi-lo)
		for i := lo; i < hi; i++ {
			s, err := src.Sample(i)
			if err != nil {
				return fmt.Errorf("sample %d: %w", i, err)
			}
			if err := dataset.CheckSample(i, s, m.Inputs); err != nil {
				return err
			}
			samples = append(samples, s)
		}
		outs, err := m.runBatch(samples)
		if err != nil {
			if len(samples) == 1 {
				return fmt.Errorf("sample %d: %w", lo, err)
			}
			return fmt.Errorf("samples %d to %d: %w", lo, hi-1, err)
		}
		for k, out := range outs {
			if err := fn(lo+k, out); err != nil {
				return err
			}
		}
		if opts.Progress != nil {
			opts.Progress(hi)
		}
	}
	return nil
}

// Batchable reports whether samples can be joined into one run: every
// model input has a known rank and a dynamic first dimension.
func (m *Model) Batchable() bool {
	if len(m.Inputs) == 0 {
		return false
	}
	for _, v := range m.Inputs {
		dims, ok := v.Shape()
		if !ok || len(dims) == 0 || dims[0] >= 0 {
			return false
		}
	}
	return true
}

// runBatch runs samples in one engine call (joined along the first axis)
// and splits the outputs back into one map per sample.
func (m *Model) runBatch(samples []map[string]*graph.Tensor) ([]map[string]*graph.Tensor, error) {
	if len(samples) == 1 {
		out, err := m.Run(samples[0])
		if err != nil {
			return nil, err
		}
		return []map[string]*graph.Tensor{out}, nil
	}
	joined := map[string]*graph.Tensor{}
	for name := range samples[0] {
		parts := make([]*graph.Tensor, len(samples))
		for k, s := range samples {
			parts[k] = s[name]
		}
		t, err := concatRows(parts)
		if err != nil {
			return nil, fmt.Errorf("joining input %q of the batch (run with a batch of 1 when samples differ in shape): %w", name, err)
		}
		joined[name] = t
	}
	out, err := m.Run(joined)
	if err != nil {
		return nil, err
	}
	res := make([]map[string]*graph.Tensor, len(samples))
	for k := range res {
		res[k] = map[string]*graph.Tensor{}
	}
	for name, t := range out {
		parts, err := splitRows(t, len(samples))
		if err != nil {
			return nil, fmt.Errorf("output %q: %w; run with a batch of 1", name, err)
		}
		for k, p := range parts {
			res[k][name] = p
		}
	}
	return res, nil
}

// concatRows joins tensors of equal shape [d0, d1, ...] along their first
// axis into one of shape [n*d0, d1, ...].
func concatRows(ts []*graph.Tensor) (*graph.Tensor, error) {
	if ts[0].Rank() == 0 {
		return nil, fmt.Errorf("a scalar has no batch axis")
	}
	st, err := dataset.Stack(ts)
	if err != nil {
		return nil, err
	}
	shape := append([]int64{int64(len(ts)) * ts[0].Shape[0]}, ts[0].Shape[1:]...)
	return graph.NewTensor(st.DType, shape, st.Data)
}

// splitRows cuts a tensor of shape [n*k, d1, ...] into n tensors of shape
// [k, d1, ...] (views, no copy).
func splitRows(t *graph.Tensor, n int) ([]*graph.Tensor, error) {
	if t.Rank() == 0 || t.Shape[0]%int64(n) != 0 {
		return nil, fmt.Errorf("shape %v does not keep the %d samples of the batch on its first axis", t.Shape, n)
	}
	shape := append([]int64{int64(n), t.Shape[0] / int64(n)}, t.Shape[1:]...)
	v, err := graph.NewTensor(t.DType, shape, t.Data)
	if err != nil {
		return nil, err
	}
	parts := make([]*graph.Tensor, n)
	for k := range parts {
		if parts[k], err = dataset.Row(v, k); err != nil {
			return nil, err
		}
	}
	return parts, nil
}
