package calibrate

import (
	"fmt"
	"math"
)

// Bins is the number of histogram bins. It is a power of two so that bin
// edges stay exact binary fractions when the range doubles.
const Bins = 2048

// Histogram counts values in Bins equal bins over [-Limit, Limit]. Limit
// is a power of two; when a value falls outside, Limit doubles and pairs of
// bins merge, which is exact. Two histograms of the same values have the
// same bins whatever the order or sharding of the values, so merging the
// histograms of shards gives exactly the histogram of the whole set.
type Histogram struct {
	Limit  float64  `json:"limit"`
	Counts []uint64 `json:"counts"`
}

// minLimit is the smallest limit a histogram uses (2^-24): finer ranges
// are below float32 quantization resolution for any useful scale.
var minLimit = math.Ldexp(1, -24)

func newHistogram() *Histogram {
	return &Histogram{Limit: minLimit, Counts: make([]uint64, Bins)}
}

// grow doubles Limit until |x| <= Limit.
func (h *Histogram) grow(absmax float64) {
	for absmax > h.Limit {
		c := make([]uint64, Bins)
		for i, n := range h.Counts {
			c[Bins/4+i/2] += n
		}
		h.Counts = c
		h.Limit *= 2
	}
}

// Add counts values (NaN and infinities must be filtered by the caller).
func (h *Histogram) Add(xs []float32, absmax float64) {
	h.grow(absmax)
	w := 2 * h.Limit / Bins
	inv := 1 / w
	for _, x := range xs {
		i := int((float64(x) + h.Limit) * inv)
		if i >= Bins {
			i = Bins - 1
		}
		if i < 0 {
			i = 0
		}
		h.Counts[i]++
	}
}

// Merge adds o's counts to h, exactly.
func (h *Histogram) Merge(o *Histogram) error {
	if len(o.Counts) != Bins || len(h.Counts) != Bins {
		return fmt.Errorf("histograms have %d and %d bins, want %d", len(h.Counts), len(o.Counts), Bins)
	}
	if o.Limit > h.Limit {
		h.grow(o.Limit)
	}
	oc := o
	if o.Limit < h.Limit {
		oc = &Histogram{Limit: o.Limit, Counts: append([]uint64{}, o.Counts...)}
		oc.grow(h.Limit)
	}
	for i, n := range oc.Counts {
		h.Counts[i] += n
	}
	return nil
}

// Total returns the number of values counted.
func (h *Histogram) Total() uint64 {
	var t uint64
	for _, n := range h.Counts {
		t += n
	}
	return t
}

// binWidth returns the width of one bin.
func (h *Histogram) binWidth() float64 { return 2 * h.Limit / Bins }

// center returns the centre value of bin i.
func (h *Histogram) center(i int) float64 { return -h.Limit + (float64(i)+0.5)*h.binWidth() }

// lower returns the lower edge of bin i.
func (h *Histogram) lower(i int) float64 { return -h.Limit + float64(i)*h.binWidth() }
