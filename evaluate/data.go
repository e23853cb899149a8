package evaluate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// OpenMNIST returns a source over an MNIST idx3 image file (plain or .gz)
// feeding the model's single input: pixels become float32 multiplied by
// scale (0 means 1: raw 0..255 values, what mnist-7 expects), shaped as the
// input's static shape ([1, 1, rows, cols] when it has none).
func (m *Model) OpenMNIST(images string, scale float32) (*dataset.MNIST, error) {
	in, err := m.onlyInput("MNIST data")
	if err != nil {
		return nil, err
	}
	pre := dataset.MNISTPreprocess{Input: in.Name, Scale: scale}
	if dims, ok := in.Shape(); ok && static(dims) {
		pre.Shape = dims
	}
	return dataset.OpenMNIST(images, pre)
}

// OpenTestDataSets opens a folder of ONNX test_data_set_N folders (or one
// such folder) for this model: unnamed input_K.pb and output_K.pb tensors
// are the model's K-th input and output.
func (m *Model) OpenTestDataSets(dir string) (*dataset.TestDataSets, error) {
	names := make([]string, len(m.Inputs))
	for i, v := range m.Inputs {
		names[i] = v.Name
	}
	return dataset.OpenTestDataSets(dir, names, m.Outputs)
}

// Validate checks every sample of src against the model's inputs before
// any work starts when that is cheap: for sources already in memory
// (stacked arrays, MNIST images). Other sources (images decoded on demand,
// tensor files) are checked sample by sample as Each reads them.
func (m *Model) Validate(src dataset.Source) error {
	switch src.(type) {
	case *dataset.ArraySource, *dataset.MNIST:
		return dataset.Validate(src, m.Inputs)
	}
	return nil
}

// onlyInput returns the model's single input, or an error saying a data
// source that feeds one tensor cannot serve this model.
func (m *Model) onlyInput(what string) (*graph.Value, error) {
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("%s feeds one input, but %s has %d", what, m.Path, len(m.Inputs))
	}
	return m.Inputs[0], nil
}

// ReadLabels reads integer class labels, one per sample, from an idx1 file
// (MNIST's t10k-labels-idx1-ubyte, plain or .gz), an .npy file, an .npz
// holding one array, or a text file with one integer per line (blank lines
// and lines starting with # are skipped).
func ReadLabels(path string) ([]int64, error) {
	head, err := readHead(path, 4)
	if err != nil {
		return nil, err
	}
	switch {
	case isGzip(head) || len(head) == 4 && head[0] == 0 && head[1] == 0 && head[3] == 1:
		return dataset.ReadIDXLabels(path)
	case bytes.HasPrefix(head, []byte("\x93NUM")) || bytes.HasPrefix(head, []byte("PK")):
		arrays, err := dataset.ReadArrays(path)
		if err != nil {
			return nil, err
		}
		if len(arrays) != 1 {
			return nil, fmt.Errorf("%s holds %d arrays; a label file holds one", path, len(arrays))
		}
		for _, t := range arrays {
			l, err := dataset.Labels(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return l, nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var labels []int64
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not an integer label (a label file is idx1, .npy, .npz or text with one integer per line)", filepath.Base(path), i+1, truncate(line, 40))
		}
		labels = append(labels, v)
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("%s holds no labels", path)
	}
	return labels, nil
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, _ := f.Read(b)
	return b[:k], nil
}

func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func static(dims []int64) bool {
	for _, d := range dims {
		if d < 0 {
			return false
		}
	}
	return true
}
