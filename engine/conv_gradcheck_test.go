package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// This file holds the finite-difference gradient check shared by the tests
// of the heavy operators (conv*, matmul*, pool*, norm*, pad*, resize*).
//
// The loss is L = Σ_k <Y_k, R_k> over the checked outputs Y_k with fixed
// random R_k, summed in float64. The analytic gradient is the op's Backward
// with dY_k = R_k; the reference is the central difference
// (L(x+ε) - L(x-ε)) / (x+ε - (x-ε)) per input element, the denominator
// taken from the float32 values actually used.

// gradCase is one gradient check.
type gradCase struct {
	op      string
	opset   int64
	attrs   map[string]any
	inputs  []*graph.Tensor // nil for an omitted optional input
	wrt     []int           // inputs to check; nil: every floating-point input
	outputs int             // outputs in the loss (default 1)
	// eps is the finite-difference step. Operators that are linear in each
	// input (Conv, MatMul, pooling, Pad, Resize) have an exact central
	// difference for any step, so they use a large one (0.5) that keeps
	// float32 rounding of the loss small relative to the difference;
	// piecewise-linear ones (MaxPool) use a step below half the gap between
	// distinct input values; smooth nonlinear ones a small step.
	eps float64
	// A gradient element passes when |analytic - numeric| <= atol +
	// rtol*|numeric|. Defaults: rtol 1e-3, atol 1e-3 (see checkGrad).
	rtol, atol float64
	// maxElems caps the elements checked per input (a seeded random
	// subset beyond it); 0 means 400.
	maxElems int
}

// randTensor returns a float32 tensor with uniform values in [-1, 1).
func randTensor(rng *rand.Rand, shape ...int64) *graph.Tensor {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.Float64()*2 - 1)
	}
	return graph.MustTensor(graph.Float, shape, d)
}

// distinctTensor returns a float32 tensor whose values are a random
// permutation of 0.1·(i - n/2) + 0.05: any two differ by at least 0.1, so
// a step of 0.01 never changes which element of a window is the largest,
// and none is within 0.05 of 0 (where |x| has a kink).
func distinctTensor(rng *rand.Rand, shape ...int64) *graph.Tensor {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	d := make([]float32, n)
	for i, j := range rng.Perm(n) {
		d[j] = float32(0.1*float64(i-n/2) + 0.05)
	}
	return graph.MustTensor(graph.Float, shape, d)
}

// newTestNode builds a node of the default domain with the given
// attributes and n outputs.
func newTestNode(op string, attrs map[string]any, nOut int) *graph.Node {
	n := &graph.Node{Name: "under_test", OpType: op}
	for k, v := range attrs {
		n.SetAttr(k, v)
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, &graph.Value{Name: fmt.Sprintf("y%d", i)})
	}
	return n
}

// runOp runs the registered forward kernel of op at opset on inputs.
func runOp(t testing.TB, op string, opset int64, attrs map[string]any, nOut int, in []*graph.Tensor) []*graph.Tensor {
	t.Helper()
	o := Lookup("", op, opset)
	if o == nil {
		t.Fatalf("%s opset %d is not registered", op, opset)
	}
	n := newTestNode(op, attrs, nOut)
	if o.Check != nil {
		if err := o.Check(n); err != nil {
			t.Fatalf("%s Check: %v", op, err)
		}
	}
	out, err := o.Forward(&Context{Node: n, Opset: opset}, in)
	if err != nil {
		t.Fatalf("%s forward: %v", op, err)
	}
	return out
}

// checkGrad runs one gradient check and reports mismatches on t.
func checkGrad(t *testing.T, c gradCase) {
	t.Helper()
	if c.outputs == 0 {
		c.outputs = 1
	}
	if c.rtol == 0 {
		c.rtol = 1e-3
	}
	if c.atol == 0 {
		c.atol = 1e-3
	}
	if c.maxElems == 0 {
		c.maxElems = 400
	}
	o := Lookup("", c.op, c.opset)
	if o == nil || o.Backward == nil {
		t.Fatalf("%s opset %d has no gradient", c.op, c.opset)
	}
	n := newTestNode(c.op, c.attrs, c.outputs)
	ctx := &Context{Node: n, Opset: c.opset}
	rng := rand.New(rand.NewPCG(7, 11))
	out, err := o.Forward(ctx, c.inputs)
	if err != nil {
		t.Fatalf("%s forward: %v", c.op, err)
	}
	dout := make([]*graph.Tensor, len(out))
	for k := 0; k < c.outputs; k++ {
		dout[k] = randTensor(rng, out[k].Shape...)
	}
	loss := func(in []*graph.Tensor) float64 {
		y, err := o.Forward(ctx, in)
		if err != nil {
			t.Fatalf("%s forward: %v", c.op, err)
		}
		var s float64
		for k := 0; k < c.outputs; k++ {
			a, _ := y[k].Float32s()
			r := dout[k].Data.([]float32)
			for i := range a {
				s += float64(a[i]) * float64(r[i])
			}
		}
		return s
	}
	grads, err := o.Backward(ctx, c.inputs, out, dout)
	if err != nil {
		t.Fatalf("%s backward: %v", c.op, err)
	}
	wrt := c.wrt
	if wrt == nil {
		for i, x := range c.inputs {
			if x != nil && x.DType == graph.Float {
				wrt = append(wrt, i)
			}
		}
	}
	for _, i := range wrt {
		if i >= len(grads) || grads[i] == nil {
			t.Errorf("%s: no gradient for input %d", c.op, i)
			continue
		}
		if fmt.Sprint(grads[i].Shape) != fmt.Sprint(c.inputs[i].Shape) {
			t.Errorf("%s: gradient of input %d has shape %v, want %v", c.op, i, grads[i].Shape, c.inputs[i].Shape)
			continue
		}
		g, _ := grads[i].Float32s()
		x := c.inputs[i].Data.([]float32)
		elems := rng.Perm(len(x))
		if len(elems) > c.maxElems {
			elems = elems[:c.maxElems]
		}
		bad, worst := 0, 0.0
		for _, j := range elems {
			pert := append([]float32{}, x...)
			in := append([]*graph.Tensor{}, c.inputs...)
			in[i] = graph.MustTensor(graph.Float, c.inputs[i].Shape, pert)
			hi := float32(float64(x[j]) + c.eps)
			lo := float32(float64(x[j]) - c.eps)
			pert[j] = hi
			lp := loss(in)
			pert[j] = lo
			lm := loss(in)
			num := (lp - lm) / (float64(hi) - float64(lo))
			diff := math.Abs(float64(g[j]) - num)
			worst = max(worst, diff/(c.atol+c.rtol*math.Abs(num)))
			if diff > c.atol+c.rtol*math.Abs(num) {
				if bad < 5 {
					t.Errorf("%s: d/d input %d [%d]: backward %g, finite difference %g", c.op, i, j, g[j], num)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: input %d: %d of %d gradient elements off", c.op, i, bad, len(elems))
		}
		t.Logf("%s input %d: %d elements checked, worst error %.3g of tolerance", c.op, i, len(elems), worst)
	}
}

// allClose compares got with want element by element:
// |got-want| <= atol + rtol*|want|, same shape and type.
func allClose(got, want *graph.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("not computed")
	}
	if got.DType != want.DType {
		return fmt.Errorf("type %s, want %s", got.DType, want.DType)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, err := asFloat64s(got)
	if err != nil {
		return err
	}
	w, err := asFloat64s(want)
	if err != nil {
		return err
	}
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
			continue
		}
		if math.Abs(g[i]-w[i]) > atol+rtol*math.Abs(w[i]) || math.IsNaN(g[i]) != math.IsNaN(w[i]) {
			return fmt.Errorf("element %d is %g, want %g", i, g[i], w[i])
		}
	}
	return nil
}

func asFloat64s(t *graph.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []int64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}
