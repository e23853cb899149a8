// Package calibrate measures the ranges of activations over sample data
// and turns them into quantization ranges.
//
// Statistics are streamed: each tensor keeps a fixed-size histogram
// (Bins bins, see Histogram) plus exact extremes, so memory does not grow
// with the number of samples. Statistics are mergeable exactly, so a large
// calibration set can be split into shards that run as independent jobs
// and are combined afterwards (Merge, Load, Save).
//
// Methods (Method) turn statistics into a range: min-max, moving average
// of per-batch extremes, percentile, entropy (KL divergence, as TensorRT's
// calibrator) and MSE-optimal clipping for the target quantized type.
package calibrate

import (
	"fmt"
	"math"
)

// Stats are the streamed statistics of one tensor (or one scale group of
// tensors that share a scale).
type Stats struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// Batches, SumBatchMin and SumBatchMax give the mean of the per-batch
	// extremes (the moving-average method).
	Batches     uint64     `json:"batches"`
	SumBatchMin float64    `json:"sum_batch_min"`
	SumBatchMax float64    `json:"sum_batch_max"`
	Hist        *Histogram `json:"histogram"`
}

// NewStats returns empty statistics.
func NewStats() *Stats {
	return &Stats{Min: math.Inf(1), Max: math.Inf(-1), Hist: newHistogram()}
}

// Observe adds one batch of values. It returns an error naming the first
// NaN or infinity: a range cannot be calibrated from them.
func (s *Stats) Observe(xs []float32) error {
	if len(xs) == 0 {
		return nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, x := range xs {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("element %d is %v", i, x)
		}
		if f < lo {
			lo = f
		}
		if f > hi {
			hi = f
		}
	}
	s.Count += uint64(len(xs))
	s.Min = math.Min(s.Min, lo)
	s.Max = math.Max(s.Max, hi)
	s.Batches++
	s.SumBatchMin += lo
	s.SumBatchMax += hi
	s.Hist.Add(xs, math.Max(-lo, hi))
	return nil
}

// Merge adds o to s exactly (except for the floating-point sums of the
// per-batch extremes, which are added in the order of merging).
func (s *Stats) Merge(o *Stats) error {
	if o.Count == 0 {
		return nil
	}
	if err := s.Hist.Merge(o.Hist); err != nil {
		return err
	}
	s.Count += o.Count
	s.Min = math.Min(s.Min, o.Min)
	s.Max = math.Max(s.Max, o.Max)
	s.Batches += o.Batches
	s.SumBatchMin += o.SumBatchMin
	s.SumBatchMax += o.SumBatchMax
	return nil
}
