package evaluate

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// Diff measures how far one set of outputs is from a reference, over one
// or several tensors (samples) added with Add.
//
// MaxRel is the largest absolute error relative to the largest reference
// magnitude (MaxAbs / MaxRef), not a per-element ratio: float32 rounding
// error scales with the magnitude of the values a result is summed from,
// so elements near zero would make per-element ratios meaningless.
type Diff struct {
	// Count is the number of elements compared.
	Count int `json:"count"`
	// MaxAbs is the largest |got - want|.
	MaxAbs float64 `json:"max_abs"`
	// MaxRef is the largest |want|.
	MaxRef float64 `json:"max_ref"`
	// MaxRel is MaxAbs / MaxRef (0 when both are 0, +Inf when only the
	// reference is all zeros).
	MaxRel float64 `json:"max_rel"`
	// Cosine is the cosine similarity of all compared elements taken as one
	// vector (1 when both are all zeros).
	Cosine float64 `json:"cosine"`
	// MinCosine is the smallest cosine similarity of one added tensor.
	MinCosine float64 `json:"min_cosine"`
	// NaNs counts elements where exactly one side is NaN (they make MaxAbs
	// +Inf); elements NaN on both sides agree.
	NaNs int `json:"nans"`

	dot, gg, ww float64
	tensors     int // tensors added
}

// Compare returns the Diff of one tensor against its reference.
func Compare(got, want *graph.Tensor) (Diff, error) {
	var d Diff
	err := d.Add(got, want)
	return d, err
}

// Add compares got with its reference want (same shape; any numeric
// element types) and folds the result into d.
func (d *Diff) Add(got, want *graph.Tensor) error {
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, the reference has %v", got.Shape, want.Shape)
	}
	g, err := float64s(got)
	if err != nil {
		return err
	}
	w, err := float64s(want)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	var dot, gg, ww float64
	for i := range g {
		a, b := g[i], w[i]
		an, bn := math.IsNaN(a), math.IsNaN(b)
		switch {
		case an && bn:
			continue
		case an || bn:
			d.NaNs++
			d.MaxAbs = math.Inf(1)
			continue
		}
		if e := math.Abs(a - b); e > d.MaxAbs || math.IsNaN(e) {
			d.MaxAbs = e // NaN only for Inf - Inf
		}
		d.MaxRef = math.Max(d.MaxRef, math.Abs(b))
		dot += a * b
		gg += a * a
		ww += b * b
	}
	d.Count += len(g)
	d.dot += dot
	d.gg += gg
	d.ww += ww
	c := cosine(dot, gg, ww)
	if d.tensors == 0 || c < d.MinCosine {
		d.MinCosine = c
	}
	d.tensors++
	d.Cosine = cosine(d.dot, d.gg, d.ww)
	switch {
	case d.MaxRef > 0:
		d.MaxRel = d.MaxAbs / d.MaxRef
	case d.MaxAbs > 0:
		d.MaxRel = math.Inf(1)
	default:
		d.MaxRel = 0
	}
	return nil
}

// String formats the figures for a report line.
func (d Diff) String() string {
	return fmt.Sprintf("max abs %.3g, max rel %.3g (max |ref| %.3g), cosine %.9f (min %.9f), %d values",
		d.MaxAbs, d.MaxRel, d.MaxRef, d.Cosine, d.MinCosine, d.Count)
}

// cosine is dot/sqrt(gg*ww), 1 when both vectors are zero and 0 when one
// is.
func cosine(dot, gg, ww float64) float64 {
	switch {
	case gg == 0 && ww == 0:
		return 1
	case gg == 0 || ww == 0:
		return 0
	}
	return dot / math.Sqrt(gg) / math.Sqrt(ww)
}

// float64s returns a numeric tensor's elements as float64.
func float64s(t *graph.Tensor) ([]float64, error) {
	if d, ok := t.Data.([]float64); ok {
		return d, nil
	}
	var f []float32
	var err error
	if t.DType.IsInteger() {
		ints, e := t.Int64s()
		if e != nil {
			return nil, e
		}
		out := make([]float64, len(ints))
		for i, v := range ints {
			out[i] = float64(v)
		}
		return out, nil
	}
	if f, err = t.Float32s(); err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}
