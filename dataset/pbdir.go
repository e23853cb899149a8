package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// ReadTensorPB reads one serialized ONNX TensorProto file (input_N.pb,
// output_N.pb) and returns the tensor and the name stored in it (empty when
// the file has none).
func ReadTensorPB(path string) (*graph.Tensor, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, "", fmt.Errorf("%s: not a TensorProto: %w", path, err)
	}
	t, err := graph.TensorFromProto(&tp, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return t, tp.GetName(), nil
}

// TestDataSets is a Source over ONNX test data directories: each sample is
// one test_data_set_N folder holding input_0.pb, input_1.pb, ... (and the
// expected output_K.pb). Files are read when a sample is asked for.
type TestDataSets struct {
	dirs        []string
	inputNames  []string
	outputNames []string
}

var (
	setDirRE = regexp.MustCompile(`^test_data_set_(\d+)$`)
	inputRE  = regexp.MustCompile(`^input_(\d+)\.pb$`)
	outputRE = regexp.MustCompile(`^output_(\d+)\.pb$`)
)

// OpenTestDataSets opens dir, which is either one test_data_set folder or a
// folder of test_data_set_N folders (ordered by N). inputNames are the
// model's inputs in order (without initializers): a tensor file whose
// TensorProto has no name is input_K.pb's inputNames[K]. outputNames does
// the same for Expected.
func OpenTestDataSets(dir string, inputNames, outputNames []string) (*TestDataSets, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		path string
	}
	var sets []numbered
	direct := false
	for _, e := range entries {
		if m := setDirRE.FindStringSubmatch(e.Name()); m != nil && e.IsDir() {
			n, _ := strconv.Atoi(m[1])
			sets = append(sets, numbered{n, filepath.Join(dir, e.Name())})
		}
		if inputRE.MatchString(e.Name()) {
			direct = true
		}
	}
	s := &TestDataSets{inputNames: inputNames, outputNames: outputNames}
	switch {
	case len(sets) > 0:
		sort.Slice(sets, func(i, j int) bool { return sets[i].n < sets[j].n })
		for _, d := range sets {
			s.dirs = append(s.dirs, d.path)
		}
	case direct:
		s.dirs = []string{dir}
	default:
		return nil, fmt.Errorf("%s holds no test_data_set_N folders and no input_N.pb files", dir)
	}
	return s, nil
}

// Len returns the number of test data sets.
func (s *TestDataSets) Len() int { return len(s.dirs) }

// Dir returns the folder of sample i.
func (s *TestDataSets) Dir(i int) string { return s.dirs[i] }

// Sample reads the input_N.pb files of set i.
func (s *TestDataSets) Sample(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= len(s.dirs) {
		return nil, fmt.Errorf("sample %d is out of range: there are %d", i, len(s.dirs))
	}
	return readNumbered(s.dirs[i], inputRE, s.inputNames, "input")
}

// Expected reads the output_N.pb files of set i: the outputs the model
// should produce.
func (s *TestDataSets) Expected(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= len(s.dirs) {
		return nil, fmt.Errorf("sample %d is out of range: there are %d", i, len(s.dirs))
	}
	return readNumbered(s.dirs[i], outputRE, s.outputNames, "output")
}

// readNumbered reads the files of dir whose names match re (with the file
// number as its group), naming unnamed tensors by position in names.
func readNumbered(dir string, re *regexp.Regexp, names []string, kind string) (map[string]*graph.Tensor, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*graph.Tensor{}
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		k, _ := strconv.Atoi(m[1])
		path := filepath.Join(dir, e.Name())
		t, name, err := ReadTensorPB(path)
		if err != nil {
			return nil, err
		}
		if name == "" {
			if k >= len(names) {
				return nil, fmt.Errorf("%s: the tensor has no name and the model has only %d %ss, so it cannot be matched to one", path, len(names), kind)
			}
			name = names[k]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: a second tensor for %s %q", path, kind, name)
		}
		out[name] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no %s_N.pb files", dir, kind)
	}
	return out, nil
}
