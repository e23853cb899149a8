package evaluate

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// saveModel writes a hand-built model to a temporary file and opens it
// with the Go engine.
func saveModel(t *testing.T, b *graph.Builder) *Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := b.Model().Save(path); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scaleModel is y = 2x + 1 with x of shape [batch, 3]; batch is -1 for a
// dynamic batch dimension. A second output s sums x over everything, so it
// does not keep samples apart.
func scaleModel(t *testing.T, batch int64) *Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, batch, 3)
	y := b.Op("Add", []*graph.Value{b.Op("Mul", []*graph.Value{x, b.Floats("two", nil, 2)}, nil), b.Floats("one", nil, 1)}, nil)
	graph.SetType(y, graph.Float, batch, 3)
	b.Output(y)
	return saveModel(t, b)
}

// rows returns a source of n samples of shape [1, 3] holding i, i+0.5,
// i+0.25.
func rows(t *testing.T, n int) dataset.Source {
	data := make([]float32, 0, 3*n)
	for i := range n {
		f := float32(i)
		data = append(data, f, f+0.5, f+0.25)
	}
	src, err := dataset.NewArraySource(map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{int64(n), 1, 3}, data)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestEachBatches(t *testing.T) {
	m := scaleModel(t, -1)
	if !m.Batchable() {
		t.Fatal("a model with a dynamic batch dimension is not batchable")
	}
	src := rows(t, 7)
	var one map[string]*graph.Tensor
	for _, batch := range []int{1, 3, 7, 100} {
		var calls []int
		out, err := m.RunAll(src, EachOptions{Batch: batch, Progress: func(done int) { calls = append(calls, done) }})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		y := out[m.Outputs[0]]
		if !reflect.DeepEqual(y.Shape, []int64{7, 1, 3}) {
			t.Fatalf("batch %d: shape %v", batch, y.Shape)
		}
		// 2x+1 is exact in float32 for these values.
		for i, v := range y.Data.([]float32) {
			s := float32(i / 3)
			want := 2*(s+[]float32{0, 0.5, 0.25}[i%3]) + 1
			if v != want {
				t.Fatalf("batch %d: element %d = %v, want %v", batch, i, v, want)
			}
		}
		if one == nil {
			one = out
		} else if !reflect.DeepEqual(out, one) {
			t.Errorf("batch %d gives other outputs than batch 1", batch)
		}
		wantCalls := (7 + min(batch, 7) - 1) / min(batch, 7)
		if len(calls) != wantCalls || calls[len(calls)-1] != 7 {
			t.Errorf("batch %d: progress calls %v", batch, calls)
		}
	}
}

func TestEachFixedBatchRunsOneByOne(t *testing.T) {
	m := scaleModel(t, 1)
	if m.Batchable() {
		t.Fatal("a model with batch dimension 1 is batchable")
	}
	var calls []int
	out, err := m.RunAll(rows(t, 4), EachOptions{Batch: 4, Progress: func(done int) { calls = append(calls, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls, []int{1, 2, 3, 4}) {
		t.Errorf("progress %v: samples did not run one at a time", calls)
	}
	if got := out[m.Outputs[0]].Shape; !reflect.DeepEqual(got, []int64{4, 1, 3}) {
		t.Errorf("shape %v", got)
	}
}

func TestEachRejectsOutputsWithoutBatchAxis(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, -1, 3)
	s := b.Op("ReduceSum", []*graph.Value{x}, map[string]any{"keepdims": int64(0)})
	graph.SetType(s, graph.Float)
	b.Output(s)
	m := saveModel(t, b)
	if _, err := m.RunAll(rows(t, 4), EachOptions{Batch: 1}); err != nil {
		t.Fatalf("batch 1: %v", err)
	}
	_, err := m.RunAll(rows(t, 4), EachOptions{Batch: 2})
	if err == nil || !strings.Contains(err.Error(), "batch of 1") {
		t.Errorf("a scalar output of a batch of 2 gave %v, want an error suggesting a batch of 1", err)
	}
}

func TestEachChecksSamples(t *testing.T) {
	m := scaleModel(t, -1)
	src, _ := dataset.NewArraySource(map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{2, 3}, make([]float32, 6))})
	_, err := m.RunAll(src, EachOptions{})
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("samples of the wrong rank gave %v", err)
	}
	if err := m.Validate(src); err == nil {
		t.Error("Validate accepted samples of the wrong rank")
	}
	other, _ := dataset.NewArraySource(map[string]*graph.Tensor{"z": graph.MustTensor(graph.Float, []int64{2, 1, 3}, make([]float32, 6))})
	if _, err := m.RunAll(other, EachOptions{}); err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Errorf("an array that is no model input gave %v", err)
	}
}

func TestOpenListsEveryUnsupportedOp(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 3)
	y := b.Op("NoSuchOp", []*graph.Value{x}, nil)
	z := b.Op("AlsoMissing", []*graph.Value{y}, nil)
	b.Output(z)
	path := filepath.Join(t.TempDir(), "bad.onnx")
	if err := b.Model().Save(path); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "NoSuchOp (opset 13)") || !strings.Contains(err.Error(), "AlsoMissing (opset 13)") {
		t.Errorf("got %v, want one error naming NoSuchOp and AlsoMissing", err)
	}
	if _, err := Open(path, Options{Engine: "tpu"}); err == nil || !strings.Contains(err.Error(), "tpu") {
		t.Errorf("engine tpu: %v", err)
	}
}

// TestEachLeavesTheDataAlone: samples are views of the caller's arrays
// (dataset.Row), and the engine runs element-wise kernels in place when it
// can prove a buffer dead. A graph input seen through a view (Reshape)
// must still never be written.
func TestEachLeavesTheDataAlone(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 3)
	r := b.Op("Reshape", []*graph.Value{x, b.Int64s("shape", []int64{2}, 3, 1)}, nil)
	y := b.Op("Relu", []*graph.Value{b.Op("Neg", []*graph.Value{r}, nil)}, nil)
	z := b.Op("Relu", []*graph.Value{r}, nil)
	graph.SetType(y, graph.Float, 3, 1)
	graph.SetType(z, graph.Float, 3, 1)
	b.Output(y, z)
	m := saveModel(t, b)
	data := []float32{-1, 2, -3, 4, -5, 6}
	src, err := dataset.NewArraySource(map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{2, 1, 3}, data)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.RunAll(src, EachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(data, []float32{-1, 2, -3, 4, -5, 6}) {
		t.Errorf("running the model changed its input data to %v", data)
	}
	if got := out[m.Outputs[1]].Data.([]float32); !reflect.DeepEqual(got, []float32{0, 2, 0, 4, 0, 6}) {
		t.Errorf("Relu(x) = %v", got)
	}
}
