package dataset

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

func TestOpen(t *testing.T) {
	src, labels, err := Open(filepath.Join("testdata", "deflated.npz"), []string{"Input3"}, DefaultLabelKey)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 3 || !reflect.DeepEqual(labels, []int64{7, 2, 1}) {
		t.Errorf("Len %d labels %v", src.Len(), labels)
	}
	s, _ := src.Sample(2)
	if len(s) != 1 || s["Input3"] == nil {
		t.Errorf("sample 2 = %v, want only Input3", s)
	}
	// Without a label key, the label array is one more array of samples.
	src, labels, err = Open(filepath.Join("testdata", "stored.npz"), nil, "")
	if err != nil || labels != nil {
		t.Fatal(err, labels)
	}
	s, _ = src.Sample(0)
	if l := s["labels"]; l == nil || !reflect.DeepEqual(l.Shape, []int64{}) || l.DType != graph.Int64 {
		t.Errorf("labels sample = %+v", l)
	}
	if _, _, err := Open(filepath.Join("testdata", "stored.npz"), nil, "y"); err == nil || !strings.Contains(err.Error(), `no label array "y"`) {
		t.Errorf("missing label key: %v", err)
	}

	dir := testdata.Path(t, "mnist-7")
	src, _, err = Open(dir, []string{"Input3"}, "")
	if err != nil || src.Len() != 3 {
		t.Fatalf("test data folder: %v", err)
	}
	if _, _, err := Open(dir, []string{"Input3"}, DefaultLabelKey); err == nil {
		t.Error("labels from a test data folder were accepted")
	}
	if _, _, err := Open(filepath.Join("testdata", "nothing.npz"), nil, ""); err == nil {
		t.Error("a missing file was accepted")
	}
}
