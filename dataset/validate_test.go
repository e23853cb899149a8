package dataset

import (
	"math"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

func mnistInputs(t *testing.T) []*graph.Value {
	m, err := graph.FromFile(testdata.Path(t, "mnist-7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return ModelInputs(m.Graph)
}

func TestValidateAgainstMnist7(t *testing.T) {
	inputs := mnistInputs(t)
	good := func() []float32 { return make([]float32, 2*784) }
	for name, tc := range map[string]struct {
		arrays map[string]*graph.Tensor
		want   []string // substrings of the error; nil: valid
	}{
		"valid": {map[string]*graph.Tensor{
			"Input3": graph.MustTensor(graph.Float, []int64{2, 1, 1, 28, 28}, good()),
		}, nil},
		"wrong name": {map[string]*graph.Tensor{
			"input": graph.MustTensor(graph.Float, []int64{2, 1, 1, 28, 28}, good()),
		}, []string{`no array for model input "Input3"`, `FLOAT [1,1,28,28]`, `array "input" (sample 0) is not a model input`}},
		"wrong dtype": {map[string]*graph.Tensor{
			"Input3": graph.MustTensor(graph.Double, []int64{2, 1, 1, 28, 28}, make([]float64, 2*784)),
		}, []string{`array "Input3", sample 0`, `element type DOUBLE`, `wants FLOAT`}},
		"missing batch axis": {map[string]*graph.Tensor{
			"Input3": graph.MustTensor(graph.Float, []int64{2, 1, 28, 28}, good()),
		}, []string{`array "Input3", sample 0`, `shape [1 28 28]`, `wants [1,1,28,28]`, `first axis indexes samples`}},
		"wrong size": {map[string]*graph.Tensor{
			"Input3": graph.MustTensor(graph.Float, []int64{1, 1, 1, 28, 56}, make([]float32, 2*784)),
		}, []string{`shape [1 1 28 56]`}},
	} {
		src, err := NewArraySource(tc.arrays)
		if err != nil {
			t.Fatal(err)
		}
		err = Validate(src, inputs)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", name, err, w)
			}
		}
	}
}

func TestValidateNonFinite(t *testing.T) {
	inputs := mnistInputs(t)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		x := make([]float32, 3*784)
		x[784+30] = bad // sample 1, row 1, column 2
		src, _ := NewArraySource(map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Float, []int64{3, 1, 1, 28, 28}, x)})
		err := Validate(src, inputs)
		if err == nil {
			t.Fatalf("%v accepted", bad)
		}
		for _, w := range []string{`array "Input3", sample 1`, `element 30 (index [0 0 1 2])`, "must be finite"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
	h := graph.MustTensor(graph.Float16, []int64{2}, []uint16{0x3c00, 0x7e00})
	if _, _, ok := firstNonFinite(h); !ok {
		t.Error("a float16 NaN was not found")
	}
}

// TestValidateStopsAtTen checks that a data set bad everywhere gives a
// bounded error.
func TestValidateStopsAtTen(t *testing.T) {
	src, _ := NewArraySource(map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Int64, []int64{50}, make([]int64, 50))})
	err := Validate(src, mnistInputs(t))
	if err == nil || strings.Count(err.Error(), "\n") > maxProblems || !strings.Contains(err.Error(), "more problems") {
		t.Errorf("error %v", err)
	}
}
