package dataset

import (
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

func TestMNISTTestSet(t *testing.T) {
	images, err := ReadIDX(testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if images.DType != graph.Uint8 || !reflect.DeepEqual(images.Shape, []int64{10000, 28, 28}) {
		t.Fatalf("images: %s %v", images.DType, images.Shape)
	}
	labels, err := ReadIDXLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 10000 || !reflect.DeepEqual(labels[:5], []int64{7, 2, 1, 0, 4}) {
		t.Fatalf("%d labels starting %v, want 10000 starting 7 2 1 0 4", len(labels), labels[:5])
	}
	// The class sizes of the MNIST test set, as published with it.
	want := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
	var hist [10]int
	for _, l := range labels {
		hist[l]++
	}
	if hist != want {
		t.Errorf("label histogram %v, want %v", hist, want)
	}

	src, err := NewMNIST(images, MNISTPresets["mnist-7"])
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := NewMNIST(images, MNISTPreprocess{Input: "x", Scale: 1.0 / 255})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 10000 {
		t.Fatalf("Len %d", src.Len())
	}
	raw := images.Data.([]uint8)
	for _, i := range []int{0, 1, 9999} {
		s, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		x := s["Input3"]
		if !reflect.DeepEqual(x.Shape, []int64{1, 1, 28, 28}) {
			t.Fatalf("sample %d shape %v", i, x.Shape)
		}
		s2, _ := scaled.Sample(i)
		y := s2["x"]
		for j, v := range x.Data.([]float32) {
			p := raw[i*784+j]
			if v != float32(p) || y.Data.([]float32)[j] != float32(p)*float32(1.0/255) {
				t.Fatalf("sample %d pixel %d: %v and %v from byte %d", i, j, v, y.Data.([]float32)[j], p)
			}
		}
	}
	// Digits are centred: the corners of the first image are blank.
	if raw[0] != 0 || raw[783] != 0 {
		t.Errorf("corners of image 0 are %d, %d, want blank", raw[0], raw[783])
	}
	if _, err := NewMNIST(images, MNISTPreprocess{Input: "x", Shape: []int64{1, 3, 28, 28}}); err == nil {
		t.Error("a shape that does not hold one image was accepted")
	}
	if _, err := ReadIDX(testdata.Path(t, "mnist-7.onnx")); err == nil {
		t.Error("ReadIDX accepted an ONNX model")
	}
}
