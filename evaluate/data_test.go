package evaluate

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	want := []int64{3, 0, 9}
	txt := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(txt, []byte("# digits\n3\n\n0\n 9 \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	npy := filepath.Join(dir, "labels.npy")
	if err := dataset.WriteNpyFile(npy, graph.MustTensor(graph.Uint8, []int64{3}, []uint8{3, 0, 9})); err != nil {
		t.Fatal(err)
	}
	npz := filepath.Join(dir, "labels.npz")
	if err := dataset.WriteNpz(npz, map[string]*graph.Tensor{"y": graph.MustTensor(graph.Int32, []int64{3, 1}, []int32{3, 0, 9})}, dataset.NpzOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{txt, npy, npz} {
		got, err := ReadLabels(p)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v", filepath.Base(p), got, err)
		}
	}
	idx, err := ReadLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil || len(idx) != 10000 || !reflect.DeepEqual(idx[:5], []int64{7, 2, 1, 0, 4}) {
		t.Errorf("MNIST idx1 labels: %d, %v", len(idx), err)
	}

	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("1\ncat\n"), 0o644)
	two := filepath.Join(dir, "two.npz")
	dataset.WriteNpz(two, map[string]*graph.Tensor{"a": graph.MustTensor(graph.Int64, []int64{1}, []int64{1}), "b": graph.MustTensor(graph.Int64, []int64{1}, []int64{1})}, dataset.NpzOptions{})
	floats := filepath.Join(dir, "floats.npy")
	dataset.WriteNpyFile(floats, graph.MustTensor(graph.Float, []int64{1}, []float32{1}))
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	for _, p := range []string{bad, two, floats, empty, filepath.Join(dir, "missing.txt")} {
		if _, err := ReadLabels(p); err == nil {
			t.Errorf("%s: no error", filepath.Base(p))
		}
	}
}

func TestOpenMNISTFeedsTheModelInput(t *testing.T) {
	m, err := Open(testdata.Path(t, "mnist-7.onnx"), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	src, err := m.OpenMNIST(testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz"), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	x := s["Input3"]
	if x == nil || !reflect.DeepEqual(x.Shape, []int64{1, 1, 28, 28}) {
		t.Fatalf("sample 0: %v", s)
	}
	var top float32
	for _, v := range x.Data.([]float32) {
		top = max(top, v)
	}
	if top != 127.5 {
		t.Errorf("largest pixel of image 0 at scale 0.5 is %v, want 255*0.5", top)
	}
	if err := m.Validate(src); err != nil {
		t.Error(err)
	}
}
