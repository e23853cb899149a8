package evaluate

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func f32(shape []int64, v ...float32) *graph.Tensor { return graph.MustTensor(graph.Float, shape, v) }

func TestCompare(t *testing.T) {
	d, err := Compare(f32([]int64{3}, 1, 2, 3), f32([]int64{3}, 1, 2, 4))
	if err != nil {
		t.Fatal(err)
	}
	wantCos := 17 / math.Sqrt(14*21)
	if d.MaxAbs != 1 || d.MaxRef != 4 || d.MaxRel != 0.25 || math.Abs(d.Cosine-wantCos) > 1e-15 || d.Count != 3 || d.MinCosine != d.Cosine {
		t.Errorf("%+v, want max abs 1, max ref 4, max rel 0.25, cosine %v", d, wantCos)
	}

	// Accumulating: the second tensor is exact and opposite in sign to the
	// first's error; the totals cover both.
	if err := d.Add(f32([]int64{1, 2}, -5, 0), f32([]int64{1, 2}, -5, 0)); err != nil {
		t.Fatal(err)
	}
	if d.MaxAbs != 1 || d.MaxRef != 5 || d.MaxRel != 0.2 || d.Count != 5 {
		t.Errorf("after Add: %+v", d)
	}
	if d.MinCosine != wantCos || d.Cosine <= wantCos {
		t.Errorf("min cosine %v (want the first tensor's %v), overall %v", d.MinCosine, wantCos, d.Cosine)
	}

	// Integers compare as numbers; shapes must match.
	di, err := Compare(graph.MustTensor(graph.Int64, []int64{2}, []int64{3, 7}), graph.MustTensor(graph.Int32, []int64{2}, []int32{3, 5}))
	if err != nil || di.MaxAbs != 2 {
		t.Errorf("ints: %+v %v", di, err)
	}
	if _, err := Compare(f32([]int64{2}, 1, 2), f32([]int64{1, 2}, 1, 2)); err == nil {
		t.Error("shapes [2] and [1 2] compared without error")
	}
}

func TestCompareSpecialValues(t *testing.T) {
	nan := float32(math.NaN())
	d, _ := Compare(f32([]int64{2}, nan, 1), f32([]int64{2}, nan, 1))
	if d.MaxAbs != 0 || d.NaNs != 0 || d.Cosine != 1 {
		t.Errorf("NaN on both sides must agree: %+v", d)
	}
	d, _ = Compare(f32([]int64{2}, nan, 1), f32([]int64{2}, 0, 1))
	if !math.IsInf(d.MaxAbs, 1) || d.NaNs != 1 {
		t.Errorf("NaN on one side must count: %+v", d)
	}
	d, _ = Compare(f32([]int64{2}, 0, 0), f32([]int64{2}, 0, 0))
	if d.MaxRel != 0 || d.Cosine != 1 {
		t.Errorf("zeros against zeros: %+v", d)
	}
	d, _ = Compare(f32([]int64{1}, 1), f32([]int64{1}, 0))
	if !math.IsInf(d.MaxRel, 1) || d.Cosine != 0 {
		t.Errorf("ones against zeros: %+v", d)
	}
}
