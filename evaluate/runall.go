package evaluate

import (
	"fmt"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// RunAll runs the model on every sample of src and returns each output
// stacked along a new first axis: sample i's value of output "y" is slice
// i of the returned array "y" (the layout `onnxq run` writes to an .npz).
// Every sample's value of an output must have the same shape.
func (m *Model) RunAll(src dataset.Source, opts EachOptions) (map[string]*graph.Tensor, error) {
	var st dataset.Stacker
	err := m.Each(src, opts, func(i int, out map[string]*graph.Tensor) error {
		return st.Add(out)
	})
	if err != nil {
		return nil, err
	}
	arrays, err := st.Arrays()
	if err != nil {
		return nil, fmt.Errorf("stacking the outputs of %d samples: %w (outputs of different shapes cannot share one array: give every sample the same input shape, e.g. a fixed image size)", st.Len(), err)
	}
	return arrays, nil
}

// CompareExpected runs the model on every test data set of src and
// returns the agreement of each output with its expected value
// (output_K.pb) over all sets.
func (m *Model) CompareExpected(src *dataset.TestDataSets, opts EachOptions) (map[string]*Diff, error) {
	diffs := map[string]*Diff{}
	err := m.Each(src, opts, func(i int, out map[string]*graph.Tensor) error {
		want, err := src.Expected(i)
		if err != nil {
			return err
		}
		for name, w := range want {
			g, ok := out[name]
			if !ok {
				return fmt.Errorf("%s: the model has no output %q", src.Dir(i), name)
			}
			d := diffs[name]
			if d == nil {
				d = &Diff{}
				diffs[name] = d
			}
			if err := d.Add(g, w); err != nil {
				return fmt.Errorf("%s: output %q: %w", src.Dir(i), name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return diffs, nil
}
