package tune

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
)

// Error measures how far one tensor, or the same tensor over several
// samples, is from its reference. Max abs and cosine come from
// evaluate.Diff; Error adds the mean absolute error and the
// signal-to-quantization-noise ratio
//
//	SQNR = 10 log10(sum ref^2 / sum (got - ref)^2)  [dB]
//
// summed over every element of every sample (so it is the ratio of total
// powers, not a mean of per-sample ratios). Identical tensors have an
// infinite SQNR; elements that are NaN on one side only count in
// Diff.NaNs and are left out of the sums.
type Error struct {
	diff                  evaluate.Diff
	signal, noise, absSum float64
	finite                int
}

// Add compares got with its reference want (same shape) and folds the
// result in.
func (e *Error) Add(got, want *graph.Tensor) error {
	if err := e.diff.Add(got, want); err != nil {
		return err
	}
	g, err := got.Float32s()
	if err != nil {
		return err
	}
	w, err := want.Float32s()
	if err != nil {
		return err
	}
	var signal, noise, abs float64
	n := 0
	for i := range g {
		a, b := float64(g[i]), float64(w[i])
		d := a - b
		if math.IsNaN(d) {
			continue
		}
		signal += b * b
		noise += d * d
		abs += math.Abs(d)
		n++
	}
	e.signal += signal
	e.noise += noise
	e.absSum += abs
	e.finite += n
	return nil
}

// Merge folds the sums of o into e (max abs and cosine are not merged:
// use Merge only for the SQNR and mean error of several tensors together).
func (e *Error) Merge(o *Error) {
	e.signal += o.signal
	e.noise += o.noise
	e.absSum += o.absSum
	e.finite += o.finite
}

// SQNR returns the signal-to-quantization-noise ratio in dB (+Inf when the
// tensors are identical, -Inf when the reference is all zeros and the
// other is not).
func (e *Error) SQNR() float64 { return sqnr(e.signal, e.noise) }

func sqnr(signal, noise float64) float64 {
	switch {
	case noise == 0:
		return math.Inf(1)
	case signal == 0:
		return math.Inf(-1)
	}
	return 10 * math.Log10(signal/noise)
}

// NoiseRatio returns sum (got-ref)^2 / sum ref^2, the linear form of the
// SQNR (noise powers of independent sources add up).
func (e *Error) NoiseRatio() float64 {
	if e.noise == 0 {
		return 0
	}
	return e.noise / e.signal
}

// Stats returns the figures for a report.
func (e *Error) Stats() ErrorStats {
	s := ErrorStats{
		Count:  e.diff.Count,
		MaxAbs: Num(e.diff.MaxAbs),
		SQNR:   Num(e.SQNR()),
		Cosine: Num(e.diff.Cosine),
		NaNs:   e.diff.NaNs,
	}
	if e.finite > 0 {
		s.MeanAbs = Num(e.absSum / float64(e.finite))
	}
	return s
}

// ErrorStats are the figures of an Error.
type ErrorStats struct {
	// SQNR is the signal-to-quantization-noise ratio in dB (higher is
	// better; "inf" when identical).
	SQNR    Num `json:"sqnr_db"`
	MaxAbs  Num `json:"max_abs"`
	MeanAbs Num `json:"mean_abs"`
	Cosine  Num `json:"cosine"`
	Count   int `json:"values"`
	NaNs    int `json:"nans,omitempty"`
}

// Num is a float64 that JSON-encodes infinities and NaN as the strings
// "inf", "-inf" and "nan" (plain JSON numbers cannot hold them).
type Num float64

// MarshalJSON implements json.Marshaler.
func (x Num) MarshalJSON() ([]byte, error) {
	f := float64(x)
	switch {
	case math.IsInf(f, 1):
		return []byte(`"inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-inf"`), nil
	case math.IsNaN(f):
		return []byte(`"nan"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (x *Num) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "inf":
			*x = Num(math.Inf(1))
		case "-inf":
			*x = Num(math.Inf(-1))
		case "nan":
			*x = Num(math.NaN())
		default:
			return fmt.Errorf("%q is not a number", s)
		}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*x = Num(f)
	return nil
}

// String formats a number for text output (dB values with 2 decimals are
// formatted by the caller).
func (x Num) String() string {
	f := float64(x)
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}
