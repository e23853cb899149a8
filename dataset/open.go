package dataset

import (
	"fmt"
	"os"
)

// DefaultLabelKey is the name of the label array in an .npz when the user
// names none.
const DefaultLabelKey = "labels"

// Open opens the run data at path as `onnxq run` and `onnxq eval` take it:
// an .npz or .npy file of stacked arrays (ArraySource), or a folder of ONNX
// test_data_set_N folders (TestDataSets, whose unnamed tensors take the
// names of inputNames in order).
//
// labelKey, when not empty, names an integer array of the .npz holding one
// label per sample: it is taken out of the samples and returned. It is an
// error when that array is missing, and test data folders carry no labels.
func Open(path string, inputNames []string, labelKey string) (Source, []int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		if labelKey != "" {
			return nil, nil, fmt.Errorf("%s: a folder of test data sets has no label array %q: labels come with an .npz", path, labelKey)
		}
		s, err := OpenTestDataSets(path, inputNames, nil)
		return s, nil, err
	}
	arrays, err := ReadArrays(path)
	if err != nil {
		return nil, nil, err
	}
	var labels []int64
	if labelKey != "" {
		if arrays, labels, err = SplitLabels(arrays, labelKey); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	s, err := NewArraySource(arrays)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if labels != nil && len(labels) != s.Len() {
		return nil, nil, fmt.Errorf("%s: %d labels for %d samples", path, len(labels), s.Len())
	}
	return s, labels, nil
}
