package calibrate

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/quant"
)

// Method turns statistics into a quantization range.
type Method string

// The calibration methods.
const (
	MinMax        Method = "minmax"
	MovingAverage Method = "moving-average"
	Percentile    Method = "percentile"
	Entropy       Method = "entropy"
	MSE           Method = "mse"
	// Auto tries every other method (and percentiles 99.9, 99.99,
	// 99.999) per tensor and keeps the range whose quantize-dequantize
	// round trip has the smallest mean squared error over the tensor's
	// observed values (its histogram).
	Auto Method = "auto"
)

// Methods lists every method, for flags and help texts.
var Methods = []Method{MinMax, MovingAverage, Percentile, Entropy, MSE, Auto}

// ParseMethod accepts a method name.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown calibration method %q (want minmax, moving-average, percentile, entropy, mse or auto)", s)
}

// RangeOptions says what the range is for.
type RangeOptions struct {
	Type      quant.Type // the quantized type the range will be mapped to
	Symmetric bool
	// Percentile is the share of values kept by the percentile method, in
	// percent (default 99.999).
	Percentile float64
}

// Range returns the range [lo, hi] that method picks from s.
func (s *Stats) Range(method Method, o RangeOptions) (lo, hi float64, err error) {
	if s.Count == 0 {
		return 0, 0, fmt.Errorf("no values were observed")
	}
	switch method {
	case MinMax:
		return s.Min, s.Max, nil
	case MovingAverage:
		return s.SumBatchMin / float64(s.Batches), s.SumBatchMax / float64(s.Batches), nil
	case Percentile:
		p := o.Percentile
		if p == 0 {
			p = 99.999
		}
		if p <= 50 || p > 100 {
			return 0, 0, fmt.Errorf("percentile %g must be in (50, 100]", p)
		}
		if o.Symmetric {
			t := s.absQuantile(p / 100)
			return math.Max(s.Min, -t), math.Min(s.Max, t), nil
		}
		return math.Max(s.Min, s.quantile(1-p/100, false)), math.Min(s.Max, s.quantile(p/100, true)), nil
	case Entropy:
		t := s.entropyThreshold(o)
		return math.Max(s.Min, -t), math.Min(s.Max, t), nil
	case MSE:
		lo, hi := s.mseRange(o)
		return lo, hi, nil
	case Auto:
		lo, hi := s.autoRange(o)
		return lo, hi, nil
	}
	return 0, 0, fmt.Errorf("unknown calibration method %q", method)
}

// quantile returns the value below which a share q of the values lie,
// taking a bin's upper edge when upper (the conservative choice for the
// top of the range) and its lower edge otherwise.
func (s *Stats) quantile(q float64, upper bool) float64 {
	h := s.Hist
	target := q * float64(s.Count)
	var cum float64
	for i, n := range h.Counts {
		cum += float64(n)
		if cum >= target && n > 0 {
			if upper {
				return h.lower(i + 1)
			}
			return h.lower(i)
		}
	}
	return s.Max
}

// absHist folds the signed histogram into counts of |x| over Bins/2 bins
// covering [0, Limit].
func (s *Stats) absHist() []float64 {
	h := s.Hist
	half := Bins / 2
	abs := make([]float64, half)
	for i := 0; i < half; i++ {
		abs[i] = float64(h.Counts[half+i] + h.Counts[half-1-i])
	}
	return abs
}

func (s *Stats) absQuantile(q float64) float64 {
	abs := s.absHist()
	w := s.Hist.binWidth()
	target := q * float64(s.Count)
	var cum float64
	for i, n := range abs {
		cum += n
		if cum >= target && n > 0 {
			return float64(i+1) * w
		}
	}
	return math.Max(-s.Min, s.Max)
}

// entropyThreshold is TensorRT's entropy calibration: among thresholds T
// (bin edges of the |x| histogram), pick the one whose clipped
// distribution P, when quantized to the type's levels and expanded back
// (Q), has the smallest KL divergence KL(P || Q).
func (s *Stats) entropyThreshold(o RangeOptions) float64 {
	abs := s.absHist()
	w := s.Hist.binWidth()
	absmax := math.Max(-s.Min, s.Max)
	last := int(math.Ceil(absmax / w))
	if last > len(abs) {
		last = len(abs)
	}
	qmin, qmax := o.Type.Range()
	levels := int(qmax-qmin+1) / 2
	if s.Min >= 0 && !o.Symmetric {
		levels = int(qmax - qmin + 1) // non-negative data uses every level
	}
	if levels < 2 {
		levels = 2
	}
	if last <= levels {
		return absmax
	}
	best, bestKL := last, math.Inf(1)
	p := make([]float64, last)
	q := make([]float64, last)
	for i := levels; i <= last; i++ {
		// P: the first i bins, with the clipped tail folded into the last.
		copy(p, abs[:i])
		var outliers float64
		for _, n := range abs[i:] {
			outliers += n
		}
		p[i-1] += outliers
		// Q: the first i bins merged into `levels` bins, each spread back
		// evenly over its non-empty source bins.
		for j := 0; j < levels; j++ {
			start := j * i / levels
			end := (j + 1) * i / levels
			var sum float64
			nonzero := 0
			for k := start; k < end; k++ {
				sum += abs[k]
				if abs[k] > 0 {
					nonzero++
				}
			}
			for k := start; k < end; k++ {
				q[k] = 0
				if abs[k] > 0 && nonzero > 0 {
					q[k] = sum / float64(nonzero)
				}
			}
		}
		kl := klDivergence(p[:i], q[:i])
		if kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return float64(best) * w
}

// klDivergence returns KL(p || q) of two unnormalized distributions; bins
// where p > 0 and q == 0 get a small q so the result stays finite.
func klDivergence(p, q []float64) float64 {
	var ps, qs float64
	for i := range p {
		ps += p[i]
		qs += q[i]
	}
	if ps == 0 || qs == 0 {
		return math.Inf(1)
	}
	const eps = 1e-4
	var kl float64
	for i := range p {
		if p[i] == 0 {
			continue
		}
		pi := p[i] / ps
		qi := q[i] / qs
		if qi == 0 {
			qi = eps / qs
		}
		kl += pi * math.Log(pi/qi)
	}
	return kl
}

// autoRange returns the candidate range with the least histogram error.
func (s *Stats) autoRange(o RangeOptions) (float64, float64) {
	bestLo, bestHi := s.Min, s.Max
	bestErr := s.histError(s.Min, s.Max, o)
	try := func(lo, hi float64) {
		if e := s.histError(lo, hi, o); e < bestErr {
			bestErr, bestLo, bestHi = e, lo, hi
		}
	}
	lo, hi := s.mseRange(o)
	try(lo, hi)
	t := s.entropyThreshold(o)
	try(math.Max(s.Min, -t), math.Min(s.Max, t))
	try(s.SumBatchMin/float64(s.Batches), s.SumBatchMax/float64(s.Batches))
	for _, p := range []float64{99.9, 99.99, 99.999} {
		po := o
		po.Percentile = p
		if lo, hi, err := s.Range(Percentile, po); err == nil {
			try(lo, hi)
		}
	}
	return bestLo, bestHi
}

// histError is the squared error of quantizing the observed values
// (histogram bin centres weighted by counts) with the range [lo, hi].
func (s *Stats) histError(lo, hi float64, o RangeOptions) float64 {
	h := s.Hist
	p := quant.ParamsFor(lo, hi, o.Type, o.Symmetric)
	var e float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		c := h.center(i)
		d := c - float64(quant.FakeQuant(float32(c), p, o.Type.DType))
		e += float64(n) * d * d
	}
	return e
}

// mseRange searches clipping ranges shrunk from [min, max] and returns the
// one whose quantize-dequantize round trip has the smallest mean squared
// error over the histogram (bin centres weighted by counts), for the
// actual target type and zero-point rule.
func (s *Stats) mseRange(o RangeOptions) (float64, float64) {
	bestLo, bestHi := s.Min, s.Max
	bestErr := math.Inf(1)
	const steps = 100
	for k := steps; k >= 10; k-- {
		a := float64(k) / steps
		lo, hi := s.Min*a, s.Max*a
		if e := s.histError(lo, hi, o); e < bestErr {
			bestLo, bestHi, bestErr = lo, hi, e
		}
	}
	return bestLo, bestHi
}
