package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

func TestMnistTestDataSets(t *testing.T) {
	dir := testdata.Path(t, "mnist-7")
	m, err := graph.FromFile(testdata.Path(t, "mnist-7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	inputs := ModelInputs(m.Graph)
	if len(inputs) != 1 || inputs[0].Name != "Input3" {
		t.Fatalf("ModelInputs = %v, want only Input3 (the other graph inputs are initializers)", inputs)
	}
	src, err := OpenTestDataSets(dir, []string{"Input3"}, []string{"Plus214_Output_0"})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 3 {
		t.Fatalf("%d test data sets, want 3", src.Len())
	}
	if err := Validate(src, inputs); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		x := s["Input3"]
		if x == nil || x.DType != graph.Float || !reflect.DeepEqual(x.Shape, []int64{1, 1, 28, 28}) {
			t.Fatalf("set %d: input %+v", i, x)
		}
		// The inputs are raw 0..255 pixels.
		px := x.Data.([]float32)
		lo, hi := px[0], px[0]
		for _, v := range px {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo < 0 || hi > 255 || hi < 100 {
			t.Errorf("set %d: pixel range [%v, %v], want raw pixels within [0, 255]", i, lo, hi)
		}
		want, err := src.Expected(i)
		if err != nil {
			t.Fatal(err)
		}
		if y := want["Plus214_Output_0"]; y == nil || !reflect.DeepEqual(y.Shape, []int64{1, 10}) {
			t.Errorf("set %d: expected output %+v", i, want)
		}
	}
	one, err := OpenTestDataSets(filepath.Join(dir, "test_data_set_1"), []string{"Input3"}, nil)
	if err != nil || one.Len() != 1 {
		t.Fatalf("a single test_data_set folder: %v, %v", one, err)
	}
}

// TestUnnamedTensorsTakeModelInputNames writes input files without names:
// input_K.pb is the model's input K.
func TestUnnamedTensorsTakeModelInputNames(t *testing.T) {
	dir := t.TempDir()
	set := filepath.Join(dir, "test_data_set_0")
	os.Mkdir(set, 0o755)
	a := graph.MustTensor(graph.Float, []int64{2}, []float32{1, 2})
	b := graph.MustTensor(graph.Int64, []int64{1}, []int64{5})
	for k, tn := range []*graph.Tensor{a, b} {
		raw, err := proto.Marshal(tn.ToProto(""))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(set, "input_"+string(rune('0'+k))+".pb"), raw, 0o644)
	}
	src, err := OpenTestDataSets(dir, []string{"x", "n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s["x"].Data, a.Data) || !reflect.DeepEqual(s["n"].Data, b.Data) {
		t.Errorf("sample = %v", s)
	}
	src, _ = OpenTestDataSets(dir, []string{"x"}, nil)
	if _, err := src.Sample(0); err == nil || !strings.Contains(err.Error(), "input_1.pb") {
		t.Errorf("an unnamed tensor beyond the model inputs: %v", err)
	}
	if _, err := OpenTestDataSets(t.TempDir(), nil, nil); err == nil {
		t.Error("an empty folder was accepted")
	}
}
