package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unsafe"

	"github.com/onnxq/onnxq/graph"
)

// runX is the Input3 array of the npz fixtures: arange(48)/8 as
// [3,1,1,4,4].
func runX() []float32 {
	x := make([]float32, 48)
	for i := range x {
		x[i] = float32(i) / 8
	}
	return x
}

func TestReadNumpyNpz(t *testing.T) {
	for _, file := range []string{"stored.npz", "deflated.npz"} {
		arrays, err := ReadNpz(filepath.Join("testdata", file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(arrays) != 2 {
			t.Fatalf("%s: %d arrays, want Input3 and labels", file, len(arrays))
		}
		x := arrays["Input3"]
		if x == nil || x.DType != graph.Float || !reflect.DeepEqual(x.Shape, []int64{3, 1, 1, 4, 4}) || !reflect.DeepEqual(x.Data, runX()) {
			t.Errorf("%s: Input3 = %+v", file, x)
		}
		rest, labels, err := SplitLabels(arrays, "labels")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(labels, []int64{7, 2, 1}) || len(rest) != 1 || rest["Input3"] != x {
			t.Errorf("%s: labels %v, rest %v", file, labels, rest)
		}
		if _, _, err := SplitLabels(arrays, "y"); err == nil {
			t.Errorf("%s: SplitLabels found a missing key", file)
		}
	}
}

// TestArraySourceSlicesWithoutCopy checks that sample i is slice i of the
// stacked array and shares its memory.
func TestArraySourceSlicesWithoutCopy(t *testing.T) {
	arrays, err := ReadNpz(filepath.Join("testdata", "stored.npz"))
	if err != nil {
		t.Fatal(err)
	}
	arrays, _, err = SplitLabels(arrays, "labels")
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewArraySource(arrays)
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 3 {
		t.Fatalf("Len %d, want 3", src.Len())
	}
	full := arrays["Input3"].Data.([]float32)
	for i := range 3 {
		s, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		x := s["Input3"]
		if !reflect.DeepEqual(x.Shape, []int64{1, 1, 4, 4}) {
			t.Fatalf("sample %d shape %v", i, x.Shape)
		}
		d := x.Data.([]float32)
		if !reflect.DeepEqual(d, runX()[16*i:16*(i+1)]) {
			t.Errorf("sample %d = %v", i, d)
		}
		if unsafe.SliceData(d) != &full[16*i] || cap(d) != 16 {
			t.Errorf("sample %d does not share the array's memory (or can grow into the next)", i)
		}
	}
	if _, err := src.Sample(3); err == nil {
		t.Error("sample 3 of 3 did not fail")
	}
	sub, err := Slice(src, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sub.Sample(0)
	if sub.Len() != 2 || s["Input3"].Data.([]float32)[0] != runX()[16] {
		t.Errorf("Slice(1,3) sample 0 = %v", s["Input3"].Data)
	}
	bad := map[string]*graph.Tensor{
		"a": graph.MustTensor(graph.Float, []int64{2, 1}, []float32{1, 2}),
		"b": graph.MustTensor(graph.Float, []int64{3}, []float32{1, 2, 3}),
	}
	if _, err := NewArraySource(bad); err == nil {
		t.Error("arrays with different first axes were accepted")
	}
}

func TestNpzRoundTripDeterministic(t *testing.T) {
	dir := t.TempDir()
	for _, compress := range []bool{false, true} {
		opts := NpzOptions{Compress: compress}
		p1, p2 := filepath.Join(dir, "a.npz"), filepath.Join(dir, "b.npz")
		arrays := roundTripTensors()
		if err := WriteNpz(p1, arrays, opts); err != nil {
			t.Fatal(err)
		}
		// A fresh map (different iteration order) of equal arrays.
		again := map[string]*graph.Tensor{}
		for k, v := range roundTripTensors() {
			again[k] = v
		}
		if err := WriteNpz(p2, again, opts); err != nil {
			t.Fatal(err)
		}
		b1, _ := os.ReadFile(p1)
		b2, _ := os.ReadFile(p2)
		if !bytes.Equal(b1, b2) {
			t.Errorf("compress=%v: the same arrays gave different files", compress)
		}
		got, err := ReadNpz(p1)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range arrays {
			g := got[k]
			if g == nil || g.DType != want.DType || !reflect.DeepEqual(g.Shape, want.Shape) || !sameBits(g.Data, want.Data) {
				t.Errorf("compress=%v: %s read back as %+v", compress, k, g)
			}
		}
		if len(got) != len(arrays) {
			t.Errorf("compress=%v: %d arrays read back, %d written", compress, len(got), len(arrays))
		}
	}
}

func TestReadArraysNpy(t *testing.T) {
	m, err := ReadArrays(filepath.Join("testdata", "i4.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if m["i4"] == nil || len(m) != 1 {
		t.Errorf("ReadArrays(i4.npy) = %v", m)
	}
	m, err = ReadArrays(filepath.Join("testdata", "deflated.npz"))
	if err != nil || len(m) != 2 {
		t.Errorf("ReadArrays(deflated.npz) = %v, %v", m, err)
	}
	if _, err := ReadNpz(filepath.Join("testdata", "f4.npy")); err == nil {
		t.Error("ReadNpz accepted an .npy file")
	}
}

func TestStacker(t *testing.T) {
	var s Stacker
	for i := range 3 {
		err := s.Add(map[string]*graph.Tensor{
			"y": graph.MustTensor(graph.Float, []int64{1, 2}, []float32{float32(i), float32(-i)}),
			"k": graph.MustTensor(graph.Int64, []int64{}, []int64{int64(i)}),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Arrays()
	if err != nil {
		t.Fatal(err)
	}
	if y := got["y"]; !reflect.DeepEqual(y.Shape, []int64{3, 1, 2}) || !reflect.DeepEqual(y.Data, []float32{0, 0, 1, -1, 2, -2}) {
		t.Errorf("y = %v %v", y.Shape, y.Data)
	}
	if k := got["k"]; !reflect.DeepEqual(k.Shape, []int64{3}) || !reflect.DeepEqual(k.Data, []int64{0, 1, 2}) {
		t.Errorf("k = %v %v", k.Shape, k.Data)
	}
	if err := s.Add(map[string]*graph.Tensor{"y": got["y"]}); err == nil {
		t.Error("a sample with other names was accepted")
	}
	if err := s.Add(map[string]*graph.Tensor{
		"y": graph.MustTensor(graph.Float, []int64{2}, []float32{1, 2}),
		"k": graph.MustTensor(graph.Int64, []int64{}, []int64{3}),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Arrays(); err == nil {
		t.Error("stacking shapes [1 2] and [2] did not fail")
	}
}
