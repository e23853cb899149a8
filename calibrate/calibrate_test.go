package calibrate

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

func gaussian(r *rand.Rand, n int, sigma float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * sigma)
	}
	return out
}

// TestShardsMergeExactly checks that statistics of shards, merged in any
// order, equal the statistics of the whole set (histograms bit for bit).
func TestShardsMergeExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var batches [][]float32
	for i := 0; i < 40; i++ {
		// growing spread so the histogram limit doubles during the run
		batches = append(batches, gaussian(r, 500, 0.01*float64(i+1)*float64(i+1)))
	}
	whole := NewStats()
	for _, b := range batches {
		if err := whole.Observe(b); err != nil {
			t.Fatal(err)
		}
	}
	shardA, shardB, shardC := NewStats(), NewStats(), NewStats()
	for i, b := range batches {
		[]*Stats{shardA, shardB, shardC}[i%3].Observe(b)
	}
	merged := NewStats()
	for _, s := range []*Stats{shardC, shardA, shardB} {
		if err := merged.Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(merged.Hist, whole.Hist) || merged.Count != whole.Count || merged.Min != whole.Min || merged.Max != whole.Max || merged.Batches != whole.Batches {
		t.Fatalf("merged shards differ from the whole: limit %g vs %g, count %d vs %d", merged.Hist.Limit, whole.Hist.Limit, merged.Count, whole.Count)
	}
	// Per-batch sums are float sums in another order: equal within rounding.
	if math.Abs(merged.SumBatchMax-whole.SumBatchMax) > 1e-9*math.Abs(whole.SumBatchMax) {
		t.Errorf("batch max sums %g vs %g", merged.SumBatchMax, whole.SumBatchMax)
	}
	if whole.Hist.Total() != whole.Count {
		t.Errorf("histogram holds %d values, %d observed", whole.Hist.Total(), whole.Count)
	}
}

func TestObserveRejectsNaN(t *testing.T) {
	s := NewStats()
	err := s.Observe([]float32{1, float32(math.NaN())})
	if err == nil || err.Error() != "element 1 is NaN" {
		t.Fatalf("got %v", err)
	}
}

func TestMethods(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := NewStats()
	for i := 0; i < 50; i++ {
		b := gaussian(r, 2000, 1)
		b[0] = 40 // one rare outlier per batch
		s.Observe(b)
	}
	u8 := RangeOptions{Type: quant.Type{DType: graph.Int8, Narrow: true}, Symmetric: true}
	lo, hi, _ := s.Range(MinMax, u8)
	if lo != s.Min || hi != 40 {
		t.Errorf("minmax [%g, %g]", lo, hi)
	}
	// 99.9% of N(0,1) lies within |x| < 3.29; outliers are 0.05% of values.
	_, hi, _ = s.Range(Percentile, RangeOptions{Type: u8.Type, Symmetric: true, Percentile: 99.9})
	if hi < 3.1 || hi > 3.6 {
		t.Errorf("percentile 99.9 symmetric threshold %g, want about 3.29", hi)
	}
	_, ehi, _ := s.Range(Entropy, u8)
	if ehi >= 40 || ehi < 2 {
		t.Errorf("entropy threshold %g: must clip the outliers but keep the bulk", ehi)
	}
	mlo, mhi, _ := s.Range(MSE, u8)
	if mhi >= 40 || mhi < 2 {
		t.Errorf("mse range [%g, %g]: must clip the outliers", mlo, mhi)
	}
	// The MSE choice has lower round-trip error than min-max on the data.
	errOf := func(lo, hi float64) float64 {
		p := quant.ParamsFor(lo, hi, u8.Type, true)
		var e float64
		r := rand.New(rand.NewPCG(5, 6))
		for _, x := range gaussian(r, 20000, 1) {
			d := float64(x - quant.FakeQuant(x, p, graph.Int8))
			e += d * d
		}
		return e
	}
	if errOf(mlo, mhi) >= errOf(s.Min, s.Max) {
		t.Errorf("MSE range does not beat min-max on fresh samples")
	}
}

func TestSaveLoadMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	mk := func(n int) *File {
		s := NewStats()
		for i := 0; i < n; i++ {
			s.Observe(gaussian(r, 100, 2))
		}
		return &File{Model: "m.onnx", Samples: n, Tensors: map[string]*Stats{"a": s}}
	}
	dir := t.TempDir()
	a, b := mk(3), mk(5)
	for name, f := range map[string]*File{"a.json": a, "b.json": b} {
		if err := Save(filepath.Join(dir, name), f); err != nil {
			t.Fatal(err)
		}
	}
	la, err := Load(filepath.Join(dir, "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := Load(filepath.Join(dir, "b.json"))
	m, err := Merge(la, lb)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := Merge(a, b)
	if !reflect.DeepEqual(m.Tensors["a"].Hist, direct.Tensors["a"].Hist) || m.Samples != 8 {
		t.Fatal("merging loaded shards differs from merging in memory")
	}
	if _, err := Merge(la, &File{Tensors: map[string]*Stats{"b": NewStats()}}); err == nil {
		t.Fatal("merging shards of different tensors must fail")
	}
}

// TestAutoPicksLowestError checks that auto's choice is never worse, on
// the observed data, than any single method's.
func TestAutoPicksLowestError(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	s := NewStats()
	for i := 0; i < 20; i++ {
		b := gaussian(r, 1000, 1)
		b[0] = 25
		s.Observe(b)
	}
	o := RangeOptions{Type: quant.Type{DType: graph.Uint8}}
	alo, ahi, err := s.Range(Auto, o)
	if err != nil {
		t.Fatal(err)
	}
	best := s.histError(alo, ahi, o)
	for _, m := range []Method{MinMax, MovingAverage, Percentile, Entropy, MSE} {
		lo, hi, err := s.Range(m, o)
		if err != nil {
			t.Fatal(err)
		}
		if e := s.histError(lo, hi, o); e < best*(1-1e-12) {
			t.Errorf("%s has error %g < auto's %g", m, e, best)
		}
	}
}
