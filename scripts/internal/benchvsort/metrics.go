package main

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/graph"
)

// outputs is one sample's outputs by name.
type outputs = map[string]*graph.Tensor

// sqnrDB returns, per output name, the signal-to-quantization-noise ratio
// of got against ref over all samples together:
// 10 log10(sum ref^2 / sum (got - ref)^2) in dB, +Inf when they are equal.
func sqnrDB(ref, got []outputs) (map[string]float64, error) {
	signal, noise := map[string]float64{}, map[string]float64{}
	if err := eachPair(ref, got, func(name string, r, g []float32) {
		for k := range r {
			d := float64(g[k]) - float64(r[k])
			signal[name] += float64(r[k]) * float64(r[k])
			noise[name] += d * d
		}
	}); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, s := range signal {
		out[name] = decibels(s, noise[name])
	}
	return out, nil
}

func decibels(signal, noise float64) float64 {
	switch {
	case noise == 0:
		return math.Inf(1)
	case signal == 0:
		return math.Inf(-1)
	}
	return 10 * math.Log10(signal/noise)
}

// agreement is the overlap of two binary maps, pooled over samples.
type agreement struct {
	IoU  float64 `json:"iou"`
	NRef int     `json:"n_ref"` // positives of the float model
	NGot int     `json:"n_got"` // positives of the compared model
	// MaxProbDiff, for score logits, is the largest difference of
	// sigmoid(score) between the two models: threshold-free, it shows
	// whether a lost positive was a near miss.
	MaxProbDiff float64 `json:"max_prob_diff,omitempty"`
}

// maxSigmoidDiff returns the largest |sigmoid(got) - sigmoid(ref)| over the
// outputs named in names, over all samples.
func maxSigmoidDiff(ref, got []outputs, names []string) (float64, error) {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	var m float64
	err := eachPair(ref, got, func(name string, r, g []float32) {
		if !keep[name] {
			return
		}
		for k := range r {
			m = math.Max(m, math.Abs(sigmoid(float64(g[k]))-sigmoid(float64(r[k]))))
		}
	})
	return m, err
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// mapIoU thresholds the outputs named in names (all outputs when names is
// empty) of ref and got at thresh (value > thresh is positive) and returns
// the intersection over union of the positives over all samples; 1 when
// neither has any.
func mapIoU(ref, got []outputs, names []string, thresh float32) (agreement, error) {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	var a agreement
	both := 0
	err := eachPair(ref, got, func(name string, r, g []float32) {
		if len(keep) > 0 && !keep[name] {
			return
		}
		for k := range r {
			pr, pg := r[k] > thresh, g[k] > thresh
			if pr {
				a.NRef++
			}
			if pg {
				a.NGot++
			}
			if pr && pg {
				both++
			}
		}
	})
	if union := a.NRef + a.NGot - both; union > 0 {
		a.IoU = float64(both) / float64(union)
	} else {
		a.IoU = 1
	}
	return a, err
}

// topOne returns the share of samples whose only output's argmax equals
// the label.
func topOne(got []outputs, labels []int64) (float64, error) {
	if len(got) != len(labels) {
		return 0, fmt.Errorf("%d results for %d labels", len(got), len(labels))
	}
	right := 0
	for i, o := range got {
		if len(o) != 1 {
			return 0, fmt.Errorf("sample %d: %d outputs, want one (the logits)", i, len(o))
		}
		for _, t := range o {
			v, err := t.Float32s()
			if err != nil {
				return 0, err
			}
			if argmax(v) == int(labels[i]) {
				right++
			}
		}
	}
	return float64(right) / float64(len(labels)), nil
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// eachPair calls f with each output of each sample of ref and the same
// output of got, as float32 slices of equal length, in name order.
func eachPair(ref, got []outputs, f func(name string, r, g []float32)) error {
	if len(ref) != len(got) {
		return fmt.Errorf("%d reference samples, %d compared", len(ref), len(got))
	}
	for i := range ref {
		names := make([]string, 0, len(ref[i]))
		for n := range ref[i] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			gt, ok := got[i][n]
			if !ok {
				return fmt.Errorf("sample %d: output %q missing", i, n)
			}
			r, err := ref[i][n].Float32s()
			if err != nil {
				return fmt.Errorf("output %q: %w", n, err)
			}
			g, err := gt.Float32s()
			if err != nil {
				return fmt.Errorf("output %q: %w", n, err)
			}
			if len(r) != len(g) {
				return fmt.Errorf("sample %d: output %q has %d values, the float model's %d", i, n, len(g), len(r))
			}
			f(n, r, g)
		}
	}
	return nil
}

// median returns the median of xs (the mean of the middle two for an even
// count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
