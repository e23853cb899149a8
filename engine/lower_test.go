package engine

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/onnxq/onnxq/graph"
)

// trainRun lowers m for feed with the initializer w trainable against
// the value loss, runs it once and returns the loss and w's gradient.
func trainRun(t *testing.T, l *Lowered, w string, loss string, feed map[string]*graph.Tensor) (float64, []float32) {
	t.Helper()
	var lossNode, wNode *G.Node
	for v, n := range l.Nodes {
		switch v.Name {
		case loss:
			lossNode = n
		case w:
			wNode = n
		}
	}
	if lossNode == nil || wNode == nil {
		t.Fatalf("lowering lacks %q or %q", loss, w)
	}
	var lossVal G.Value
	G.Read(lossNode, &lossVal)
	if _, err := G.Grad(lossNode, wNode); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(l.G, G.BindDualValues(wNode))
	defer vm.Close()
	if err := l.Feed(feed); err != nil {
		t.Fatal(err)
	}
	l.Step()
	if err := l.Run(vm); err != nil {
		t.Fatal(err)
	}
	gv, err := wNode.Grad()
	if err != nil {
		t.Fatal(err)
	}
	g := append([]float32{}, gv.(*tensor.Dense).Data().([]float32)...)
	var lv float64
	switch x := lossVal.(type) {
	case *G.F32:
		lv = float64(*x)
	case *tensor.Dense:
		lv = float64(x.Data().([]float32)[0])
	}
	return lv, g
}

// maskedModel is y = x * w; z = Where(y > 0, y, Cast(Cast(y, int64),
// float) + 0.25 * y); loss = ReduceSum(z * z): a boolean mask and an
// integer value computed from the trainable activation, as custom
// activations and exporters' masking write them.
func maskedModel(w []float32) *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 4)
	y := b.Op("Mul", []*graph.Value{x, b.Floats("w", []int64{4}, w...)}, nil)
	mask := b.Op("Greater", []*graph.Value{y, b.Floats("zero", nil, 0)}, nil)
	trunc := b.Op("Cast", []*graph.Value{b.Op("Cast", []*graph.Value{y}, map[string]any{"to": int64(graph.Int64)})}, map[string]any{"to": int64(graph.Float)})
	neg := b.Op("Add", []*graph.Value{trunc, b.Op("Mul", []*graph.Value{y, b.Floats("slope", nil, 0.25)}, nil)}, nil)
	z := b.Op("Where", []*graph.Value{mask, y, neg}, nil)
	b.Output(b.Op("ReduceSum", []*graph.Value{b.Op("Mul", []*graph.Value{z, z}, nil)}, map[string]any{"keepdims": int64(0)}))
	return b.Model()
}

// TestLowerEvaluatesIntegerPaths: boolean and integer values computed
// from the trainable path are evaluated each run, not differentiated;
// the gradient through Where's float branches matches central finite
// differences of the engine's forward run.
func TestLowerEvaluatesIntegerPaths(t *testing.T) {
	w := []float32{0.8, -1.3, 2.1, -0.4}
	x := graph.MustTensor(graph.Float, []int64{4}, []float32{1.7, 0.9, -1.1, 3.2})
	m := maskedModel(w)
	loss := m.Graph.Outputs[0].Name
	l, err := Lower(m, map[string]*graph.Tensor{"x": x}, func(v *graph.Value) bool { return v.Name == "w" }, loss)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Frozen) != 0 {
		t.Fatalf("frozen %v", l.Frozen)
	}
	got, grad := trainRun(t, l, "w", loss, map[string]*graph.Tensor{"x": x})
	forward := func(w []float32) float64 {
		p, err := Compile(maskedModel(w))
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Run(map[string]*graph.Tensor{"x": x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := out[loss].Float32s()
		return float64(f[0])
	}
	if want := forward(w); math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Fatalf("lowered loss %g, engine %g", got, want)
	}
	// Step 1e-3 keeps every y away from 0 and from the integer steps of
	// the truncation (|y| >= 0.44, fractional parts >= 0.1 from an
	// integer), where the loss is smooth; float32 rounding of a loss of
	// ~20 over 2e-3 leaves about 1e-2 of noise.
	const h = 1e-3
	for i := range w {
		up, down := append([]float32{}, w...), append([]float32{}, w...)
		up[i] += h
		down[i] -= h
		num := (forward(up) - forward(down)) / (2 * h)
		if math.Abs(float64(grad[i])-num) > 2e-2*math.Max(1, math.Abs(num)) {
			t.Errorf("d loss / d w[%d] = %g lowered, %g by finite differences", i, grad[i], num)
		}
	}
}

// TestLowerFeedsIntegerInputs: an integer graph input (indices into a
// trainable embedding) is fed each run, not fixed at its value in the
// sample the lowering was built with.
func TestLowerFeedsIntegerInputs(t *testing.T) {
	b := graph.NewBuilder(13)
	idx := b.Input("idx", graph.Int64, 2)
	emb := b.Floats("emb", []int64{5, 2}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	rows := b.Op("Gather", []*graph.Value{emb, idx}, map[string]any{"axis": int64(0)})
	b.Output(b.Op("ReduceSum", []*graph.Value{rows}, map[string]any{"keepdims": int64(0)}))
	m := b.Model()
	loss := m.Graph.Outputs[0].Name
	ids := func(a, b int64) map[string]*graph.Tensor {
		return map[string]*graph.Tensor{"idx": graph.MustTensor(graph.Int64, []int64{2}, []int64{a, b})}
	}
	l, err := Lower(m, ids(0, 1), func(v *graph.Value) bool { return v.Name == "emb" }, loss)
	if err != nil {
		t.Fatal(err)
	}
	got, grad := trainRun(t, l, "emb", loss, ids(3, 4))
	// Rows 3 and 4: 7+8+9+10; the gradient is 1 on those rows only.
	want := []float32{0, 0, 0, 0, 0, 0, 1, 1, 1, 1}
	if got != 34 || !slicesEqual(grad, want) {
		t.Errorf("fed rows 3 and 4: loss %g, gradient %v; want 34 and %v", got, grad, want)
	}
	if err := l.Feed(map[string]*graph.Tensor{"idx": graph.MustTensor(graph.Int64, []int64{3}, []int64{0, 1, 2})}); err == nil || !strings.Contains(err.Error(), `input "idx"`) {
		t.Errorf("feeding 3 indices to a lowering for 2: %v", err)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLowerFreezesWhatHasNoGradient: a weight whose way to the loss
// crosses an op without a gradient (Sinh) is frozen, naming the node; a
// weight after it still trains; a weight that only reaches the loss
// through a shape is frozen as having no float path.
func TestLowerFreezesWhatHasNoGradient(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 3)
	a := b.Op("Mul", []*graph.Value{x, b.Floats("w1", []int64{3}, 0.5, -0.2, 0.1)}, nil)
	c := b.Op("Mul", []*graph.Value{b.Op("Sinh", []*graph.Value{a}, nil), b.Floats("w2", []int64{3}, 1, 2, 3)}, nil)
	shaped := b.Op("Shape", []*graph.Value{b.Op("Mul", []*graph.Value{x, b.Floats("w3", []int64{3}, 1, 1, 1)}, nil)}, nil)
	width := b.Op("Cast", []*graph.Value{shaped}, map[string]any{"to": int64(graph.Float)})
	b.Output(b.Op("ReduceSum", []*graph.Value{b.Op("Mul", []*graph.Value{c, width}, nil)}, map[string]any{"keepdims": int64(0)}))
	m := b.Model()
	loss := m.Graph.Outputs[0].Name
	feed := map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{3}, []float32{1, 2, 3})}
	l, err := Lower(m, feed, func(v *graph.Value) bool { return strings.HasPrefix(v.Name, "w") }, loss)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range l.Frozen {
		got = append(got, f.String())
	}
	want := []string{`w1 (node "Sinh_out0_Sinh", op Sinh has no gradient)`, "w3 (no path of float values leads from it to the loss)"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("frozen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(l.Params) != 1 {
		t.Errorf("%d parameters, want w2 only", len(l.Params))
	}
	// loss = sum(sinh(x w1) w2 * 3) (Shape of a 3-vector, cast): its
	// gradient with respect to w2 is 3 sinh(x w1).
	_, grad := trainRun(t, l, "w2", loss, feed)
	for i, xw := range []float64{1 * 0.5, 2 * -0.2, 3 * 0.1} {
		if want := 3 * math.Sinh(xw); math.Abs(float64(grad[i])-want) > 1e-5 {
			t.Errorf("d loss / d w2[%d] = %g, want %g", i, grad[i], want)
		}
	}
}
