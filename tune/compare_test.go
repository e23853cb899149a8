package tune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// chain builds y = (x*a + b) * c over x[1,8]; bump is added to b[3].
func chain(bump float32) (*graph.Model, []*graph.Value) {
	bb := graph.NewBuilder(13)
	x := bb.Input("x", graph.Float, 1, 8)
	a := bb.Floats("a", []int64{8}, 0.5, -1, 2, 0.25, 1, -0.5, 3, 1.5)
	b := bb.Floats("b", []int64{8}, 0.1, 0.2, -0.3, 0.4+bump, 0, -0.1, 0.2, 0.3)
	c := bb.Floats("c", []int64{8}, 2, 2, 2, 2, 2, 2, 2, 2)
	m1 := graph.SetType(bb.Op("Mul", []*graph.Value{x, a}, nil), graph.Float, 1, 8)
	m2 := graph.SetType(bb.Op("Add", []*graph.Value{m1, b}, nil), graph.Float, 1, 8)
	y := graph.SetType(bb.Op("Mul", []*graph.Value{m2, c}, nil), graph.Float, 1, 8)
	bb.Output(y)
	return bb.Model(), []*graph.Value{x, m1, m2, y}
}

// randomSamples returns n samples of input name with the given shape,
// uniform in [-2, 2).
func randomSamples(t *testing.T, name string, n int, shape ...int64) dataset.Source {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	size := 1
	for _, d := range shape {
		size *= int(d)
	}
	data := make([]float32, n*size)
	for i := range data {
		data[i] = float32(r.Float64()*4 - 2)
	}
	src, err := dataset.NewArraySource(map[string]*graph.Tensor{name: graph.MustTensor(graph.Float, append([]int64{int64(n)}, shape...), data)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestCompareFindsThePerturbedTensor compares a model with a copy whose
// Add constant differs in one element: the inputs and the Mul before the
// Add agree exactly, the Add's output is the worst tensor and the one
// where the noise enters (its local SQNR is its SQNR), and the final Mul
// by a constant only scales the noise (its local SQNR is that of float32
// rounding).
func TestCompareFindsThePerturbedTensor(t *testing.T) {
	ref, rv := chain(0)
	test, _ := chain(0.5)
	res, err := Compare(ref, test, randomSamples(t, "x", 5, 1, 8), CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 5 || len(res.Outputs) != 1 || res.Outputs[0].Name != rv[3].Name || len(res.Tensors) != 3 || res.Unmatched != 0 {
		t.Fatalf("result %+v", res)
	}
	worst := res.Tensors[0]
	if worst.Name != rv[2].Name || worst.Op != "Add" {
		t.Fatalf("worst tensor %s (%s), want the Add's output", worst.Name, worst.Op)
	}
	for _, r := range res.Tensors[1:] {
		if !math.IsInf(float64(r.SQNR), 1) || r.MaxAbs != 0 {
			t.Errorf("%s differs (SQNR %v) but nothing before the Add changed", r.Name, r.SQNR)
		}
	}
	// The Add's noise: 0.5 in one of 8 elements of each sample (to
	// float32 rounding of values below 8: 1e-6).
	if math.Abs(float64(worst.MaxAbs)-0.5) > 1e-6 || math.Abs(float64(worst.MeanAbs)-0.5/8) > 1e-6 {
		t.Errorf("max abs %v, mean abs %v; want 0.5 and 0.5/8", worst.MaxAbs, worst.MeanAbs)
	}
	if worst.LocalSQNR != worst.SQNR {
		t.Errorf("local SQNR %v of the Add, want its SQNR %v (its inputs are exact)", worst.LocalSQNR, worst.SQNR)
	}
	out := res.Outputs[0]
	// y = 2*m2 in both models: the same relative noise (to float32
	// rounding, 2^-24 relative: far above 100 dB).
	if math.Abs(float64(out.SQNR-worst.SQNR)) > 1e-4 || float64(out.LocalSQNR) < 100 {
		t.Errorf("output SQNR %v (local %v); want the Add's %v and a local SQNR above 100 dB", out.SQNR, out.LocalSQNR, worst.SQNR)
	}
	// Sorted worst first, then by position.
	for i := 1; i < len(res.Tensors); i++ {
		a, b := res.Tensors[i-1], res.Tensors[i]
		if a.SQNR > b.SQNR || a.SQNR == b.SQNR && a.Order > b.Order {
			t.Errorf("tensors not sorted worst first: %s (%v) before %s (%v)", a.Name, a.SQNR, b.Name, b.SQNR)
		}
	}
}

// TestCompareMatchesDequantizedTensors compares a float model with its
// insert-qdq result: every quantized activation is matched with its
// DequantizeLinear output, and the memory bound (one tensor at a time)
// gives the same figures as one run. The chain is quantized with speed
// placement: balanced placement (the default) leaves a Mul -> Add chain in
// float, and here every tensor must have a quantized form.
func TestCompareMatchesDequantizedTensors(t *testing.T) {
	ref, rv := chain(0)
	q, _ := chain(0)
	src := randomSamples(t, "x", 8, 1, 8)
	cfg := ptq.Defaults()
	cfg.Placement = rewrite.PlaceSpeed
	if _, err := ptq.Quantize(q, src, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := Compare(ref, q, src, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	matched := map[string]string{}
	for _, r := range append(res.Tensors, res.Outputs...) {
		matched[r.Name] = r.Matched
	}
	for _, v := range rv[:3] {
		if matched[v.Name] != v.Name+"_dequantized" {
			t.Errorf("%s matched with %q, want its DequantizeLinear output", v.Name, matched[v.Name])
		}
	}
	if matched[rv[3].Name] != rv[3].Name {
		t.Errorf("output matched with %q", matched[rv[3].Name])
	}
	for _, r := range res.Tensors {
		if s := float64(r.SQNR); math.IsInf(s, 0) || s < 30 {
			t.Errorf("%s: SQNR %v; 8-bit quantization of a uniform tensor gives about 40 dB", r.Name, s)
		}
	}
	small, err := Compare(ref, q, src, CompareOptions{MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range res.Tensors {
		a, b := res.Tensors[i], small.Tensors[i]
		if a.Name != b.Name || a.SQNR != b.SQNR || a.MaxAbs != b.MaxAbs {
			t.Errorf("with one tensor held at a time, %s: %v, %v; in one run %s: %v, %v", b.Name, b.SQNR, b.MaxAbs, a.Name, a.SQNR, a.MaxAbs)
		}
	}
	if !strings.HasSuffix(res.Tensors[0].Matched, "_dequantized") {
		t.Errorf("worst tensor %s matched with %s", res.Tensors[0].Name, res.Tensors[0].Matched)
	}
}

func TestSnapshotKeepsRecordedTypes(t *testing.T) {
	m, vs := chain(0)
	// A type known only in memory (as RecordTypes or shape inference
	// leave it): the file form has no value_info for it.
	vs[1].Type = nil
	vs[1].Type = graph.TensorType(graph.Float, []int64{1, 8})
	s, err := NewSnapshot(m)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Model()
	if err != nil {
		t.Fatal(err)
	}
	var copied *graph.Value
	for _, n := range c.Graph.Nodes {
		if n.Output(0).Name == vs[1].Name {
			copied = n.Output(0)
		}
	}
	if copied == nil || copied.ElemType() != graph.Float {
		t.Fatalf("the copy lost the type of %s", vs[1].Name)
	}
	// Changing the copy leaves the original alone.
	c.Graph.Nodes = c.Graph.Nodes[:1]
	if len(m.Graph.Nodes) != 3 {
		t.Error("changing the copy changed the original")
	}
	again, _ := s.Model()
	if len(again.Graph.Nodes) != 3 {
		t.Error("changing a copy changed the snapshot")
	}
}
