package evaluate

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// Accuracy is how often a classifier ranks the true class first (top-1)
// and among its five best (top-5) on a labelled data set.
type Accuracy struct {
	// Output is the model output read as class scores.
	Output string `json:"output"`
	// Classes is the number of classes (scores per sample).
	Classes int `json:"classes"`
	// Samples is the number of samples scored.
	Samples int `json:"samples"`
	// Top1Correct samples have the label as their best-scoring class.
	Top1Correct int `json:"top1_correct"`
	// Top1 is Top1Correct / Samples.
	Top1 float64 `json:"top1"`
	// Top5Correct and Top5 count the label among the five best classes;
	// they are nil when there are fewer than 5 classes.
	Top5Correct *int     `json:"top5_correct,omitempty"`
	Top5        *float64 `json:"top5,omitempty"`
}

// AccuracyOptions adjusts Model.Accuracy.
type AccuracyOptions struct {
	// Output is the output holding the class scores (logits or
	// probabilities); empty means the model's first output.
	Output string
	EachOptions
}

// Accuracy runs the model on every sample of src and scores the output
// against labels, one class index per sample.
func (m *Model) Accuracy(src dataset.Source, labels []int64, opts AccuracyOptions) (*Accuracy, error) {
	if len(labels) != src.Len() {
		return nil, fmt.Errorf("%d labels for %d samples", len(labels), src.Len())
	}
	out := opts.Output
	if out == "" {
		if len(m.Outputs) == 0 {
			return nil, fmt.Errorf("%s has no outputs", m.Path)
		}
		out = m.Outputs[0]
	} else if !contains(m.Outputs, out) {
		return nil, fmt.Errorf("%s has no output %q (outputs: %q)", m.Path, out, m.Outputs)
	}
	var tally Tally
	err := m.Each(src, opts.EachOptions, func(i int, outputs map[string]*graph.Tensor) error {
		scores, err := Scores(outputs[out])
		if err != nil {
			return fmt.Errorf("sample %d: output %q: %w", i, out, err)
		}
		if err := tally.Add(scores, labels[i]); err != nil {
			return fmt.Errorf("sample %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a := tally.Accuracy()
	a.Output = out
	return a, nil
}

// Tally counts top-1 and top-5 hits sample by sample.
type Tally struct {
	classes, samples, top1, top5 int
}

// Add scores one sample: scores holds one value per class, label is the
// true class.
func (t *Tally) Add(scores []float32, label int64) error {
	if t.samples == 0 {
		t.classes = len(scores)
	} else if len(scores) != t.classes {
		return fmt.Errorf("%d class scores, earlier samples had %d", len(scores), t.classes)
	}
	if label < 0 || label >= int64(len(scores)) {
		return fmt.Errorf("label %d is not a class index of an output with %d classes", label, len(scores))
	}
	r := Rank(scores, int(label))
	t.samples++
	if r < 1 {
		t.top1++
	}
	if r < 5 {
		t.top5++
	}
	return nil
}

// Accuracy returns the counts so far (Output left empty).
func (t *Tally) Accuracy() *Accuracy {
	a := &Accuracy{Classes: t.classes, Samples: t.samples, Top1Correct: t.top1}
	if t.samples > 0 {
		a.Top1 = float64(t.top1) / float64(t.samples)
	}
	if t.classes >= 5 {
		c, f := t.top5, 0.0
		if t.samples > 0 {
			f = float64(t.top5) / float64(t.samples)
		}
		a.Top5Correct, a.Top5 = &c, &f
	}
	return a
}

// Rank returns the position of class label when the classes are sorted by
// score, best first: the number of classes scoring higher, plus the number
// of lower-numbered classes scoring the same (so rank 0 is numpy's argmax,
// which takes the first of equal maxima). A NaN score for the label ranks
// last; NaN scores of other classes rank below every number.
func Rank(scores []float32, label int) int {
	s := scores[label]
	if math.IsNaN(float64(s)) {
		return len(scores)
	}
	r := 0
	for j, x := range scores {
		if x > s || x == s && j < label {
			r++
		}
	}
	return r
}

// Scores returns one sample's output as a vector of class scores. The
// output must hold one row of scores: shape [C], or [1, C], [1, 1, C], ...
// (any leading dimensions of size 1).
func Scores(t *graph.Tensor) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("missing")
	}
	if t.Rank() == 0 {
		return nil, fmt.Errorf("a scalar is not a vector of class scores")
	}
	for _, d := range t.Shape[:t.Rank()-1] {
		if d != 1 {
			return nil, fmt.Errorf("shape %v holds more than one row of class scores (want [C] or [1, C] per sample)", t.Shape)
		}
	}
	if t.Shape[t.Rank()-1] == 0 {
		return nil, fmt.Errorf("shape %v holds no class scores", t.Shape)
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
