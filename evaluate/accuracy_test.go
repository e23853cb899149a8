package evaluate

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func TestRank(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		scores []float32
		label  int
		want   int
	}{
		{[]float32{0.1, 0.7, 0.2}, 1, 0},
		{[]float32{0.1, 0.7, 0.2}, 2, 1},
		{[]float32{0.1, 0.7, 0.2}, 0, 2},
		// Ties: the lower class index ranks first, as numpy's argmax.
		{[]float32{0.5, 0.5, 0.1}, 0, 0},
		{[]float32{0.5, 0.5, 0.1}, 1, 1},
		// NaN for the label ranks last; NaN elsewhere ranks below numbers.
		{[]float32{nan, 0.2, 0.1}, 0, 3},
		{[]float32{nan, 0.2, 0.1}, 1, 0},
		{[]float32{-3, -1, -2}, 1, 0},
	} {
		if got := Rank(c.scores, c.label); got != c.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", c.scores, c.label, got, c.want)
		}
	}
}

func TestTally(t *testing.T) {
	var ten Tally
	// Label 9 ranks 0, label 0 ranks 9, label 3 ranks 6 (scores are the class
	// numbers, so higher classes rank first).
	scores := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, l := range []int64{9, 0, 3, 5} {
		if err := ten.Add(scores, l); err != nil {
			t.Fatal(err)
		}
	}
	a := ten.Accuracy()
	if a.Samples != 4 || a.Classes != 10 || a.Top1Correct != 1 || a.Top1 != 0.25 {
		t.Errorf("top-1: %+v", a)
	}
	// Ranks 0, 9, 6, 4: two in the top 5.
	if a.Top5Correct == nil || *a.Top5Correct != 2 || *a.Top5 != 0.5 {
		t.Errorf("top-5: %v", a.Top5Correct)
	}
	if err := ten.Add(scores[:5], 1); err == nil {
		t.Error("a sample with a different number of classes was accepted")
	}
	if err := ten.Add(scores, 10); err == nil {
		t.Error("label 10 of 10 classes was accepted")
	}
	if err := ten.Add(scores, -1); err == nil {
		t.Error("label -1 was accepted")
	}

	var three Tally
	if err := three.Add([]float32{0.2, 0.3, 0.5}, 2); err != nil {
		t.Fatal(err)
	}
	if a := three.Accuracy(); a.Top5 != nil || a.Top1 != 1 {
		t.Errorf("3 classes: top-5 must be absent, top-1 1: %+v", a)
	}
}

func TestScores(t *testing.T) {
	ok := []*graph.Tensor{
		graph.MustTensor(graph.Float, []int64{3}, []float32{1, 2, 3}),
		graph.MustTensor(graph.Float, []int64{1, 3}, []float32{1, 2, 3}),
		graph.MustTensor(graph.Float, []int64{1, 1, 3}, []float32{1, 2, 3}),
		graph.MustTensor(graph.Double, []int64{1, 3}, []float64{1, 2, 3}),
	}
	for _, x := range ok {
		s, err := Scores(x)
		if err != nil || len(s) != 3 || s[2] != 3 {
			t.Errorf("Scores(%v %v) = %v, %v", x.DType, x.Shape, s, err)
		}
	}
	bad := []*graph.Tensor{
		nil,
		graph.Scalar(1),
		graph.MustTensor(graph.Float, []int64{2, 3}, make([]float32, 6)),
		graph.MustTensor(graph.Float, []int64{1, 0}, []float32{}),
		graph.MustTensor(graph.String, []int64{1, 1}, []string{"a"}),
	}
	for _, x := range bad {
		if _, err := Scores(x); err == nil {
			t.Errorf("Scores accepted %v", x)
		}
	}
}
