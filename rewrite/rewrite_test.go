package rewrite

import (
	"math"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

func ramp(n int, scale float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = scale * float32(i%7-3)
	}
	return out
}

// convNet builds x[1,2,4,4] -> Conv(w[3,2,1,1], b) -> Relu -> MaxPool ->
// Conv(w2[2,3,1,1]) -> Concat(with the MaxPool output) -> y.
func convNet() (*graph.Model, map[string]*graph.Value) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 2, 4, 4)
	w := b.Floats("w", []int64{3, 2, 1, 1}, ramp(6, 0.5)...)
	bias := b.Floats("b", []int64{3}, 0.1, -0.2, 0.3)
	c := graph.SetType(b.Op("Conv", []*graph.Value{x, w, bias}, nil), graph.Float, 1, 3, 4, 4)
	r := graph.SetType(b.Op("Relu", []*graph.Value{c}, nil), graph.Float, 1, 3, 4, 4)
	p := graph.SetType(b.Op("MaxPool", []*graph.Value{r}, map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}}), graph.Float, 1, 3, 2, 2)
	w2 := b.Floats("w2", []int64{2, 3, 1, 1}, ramp(6, 0.25)...)
	c2 := graph.SetType(b.Op("Conv", []*graph.Value{p, w2}, nil), graph.Float, 1, 2, 2, 2)
	y := graph.SetType(b.Op("Concat", []*graph.Value{p, c2}, map[string]any{"axis": int64(1)}), graph.Float, 1, 5, 2, 2)
	b.Output(y)
	return b.Model(), map[string]*graph.Value{"x": x, "w": w, "b": bias, "conv": c, "relu": r, "pool": p, "w2": w2, "conv2": c2, "y": y}
}

func TestAnnotateConvNet(t *testing.T) {
	m, v := convNet()
	p, err := Annotate(m, Options{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Role{"x": RoleActivation, "w": RoleWeight, "b": RoleBias, "relu": RoleActivation, "pool": RoleActivation, "w2": RoleWeight, "conv2": RoleActivation}
	for name, role := range want {
		s := p.Specs[v[name]]
		if s == nil {
			t.Errorf("%s: not quantized", name)
			continue
		}
		if s.Role != role {
			t.Errorf("%s: role %v, want %v", name, s.Role, role)
		}
	}
	if p.Specs[v["conv"]] != nil {
		t.Errorf("Conv output before the absorbed Relu must not be quantized")
	}
	if p.Specs[v["y"]] != nil {
		t.Errorf("graph output must stay float by default")
	}
	// MaxPool shares the Relu's scale; Concat joins the pool and conv2 groups.
	g := p.Specs[v["relu"]].Group
	for _, name := range []string{"pool", "conv2"} {
		if p.Specs[v[name]].Group != g {
			t.Errorf("%s is not in the relu's scale group", name)
		}
	}
	if s := p.Specs[v["w"]]; s.Axis != 0 || !s.Type.Narrow || s.Type.DType != graph.Int8 {
		t.Errorf("conv weight spec %+v, want per-channel axis 0 narrow int8", s)
	}
	if got := len(p.Activations()); got != 2 {
		t.Errorf("%d activation groups to calibrate, want 2 (x; relu/pool/conv2)", got)
	}
}

func TestMaterializeConvNet(t *testing.T) {
	m, v := convNet()
	p, err := Annotate(m, Options{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[*graph.Value]Range{v["x"]: {-1, 1}, p.Specs[v["relu"]].Group: {0, 2.55}}
	res, err := Materialize(p, MaterializeOptions{Ranges: ranges})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, n := range m.Graph.Nodes {
		counts[n.OpType]++
	}
	// Q/DQ on x, relu, pool, conv2 (4 Q + 4 DQ); DQ on w, b, w2 (integer form).
	if counts["QuantizeLinear"] != 4 || counts["DequantizeLinear"] != 7 {
		t.Errorf("got %d Q and %d DQ nodes, want 4 and 7: %v", counts["QuantizeLinear"], counts["DequantizeLinear"], counts)
	}
	// The relu group: range [0, 2.55] in uint8 -> scale 0.01, zero point 0.
	for _, tr := range res.Tensors {
		if tr.Name == v["relu"].Name {
			if math.Abs(float64(tr.Scale[0])-0.01) > 1e-7 || tr.ZeroPoint[0] != 0 {
				t.Errorf("relu params %v %v, want 0.01 and 0", tr.Scale, tr.ZeroPoint)
			}
		}
	}
	// The bias is int32 with scale x_scale * w_scale per channel.
	var bq *graph.Value
	for _, init := range m.Graph.Initializers {
		if strings.HasPrefix(init.Name, "b_quantized") {
			bq = init
		}
	}
	if bq == nil || bq.Const.DType != graph.Int32 {
		t.Fatalf("no int32 bias initializer")
	}
	xs := float32(2.0 / 255)
	ws := []float32{1.5 / 127, 0.5 / 127, 1.0 / 127} // per-channel absmax of ramp(6, 0.5)
	want := []float32{0.1, -0.2, 0.3}
	for c, q := range bq.Const.Data.([]int32) {
		got := float32(q) * xs * ws[c]
		if math.Abs(float64(got-want[c])) > float64(xs*ws[c]) {
			t.Errorf("bias %d dequantizes to %g, want %g", c, got, want[c])
		}
	}
	if err := m.Graph.TopoSort(); err != nil {
		t.Fatal(err)
	}
}

func TestBiasGuardRaisesWeightScale(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 1, 2, 2)
	w := b.Floats("w", []int64{2, 1, 1, 1}, 1e-9, 0.5) // channel 0: tiny weights
	bias := b.Floats("b", []int64{2}, 1000, 0.1)
	y := graph.SetType(b.Op("Conv", []*graph.Value{x, w, bias}, nil), graph.Float, 1, 2, 2, 2)
	r := graph.SetType(b.Op("Relu", []*graph.Value{y}, nil), graph.Float, 1, 2, 2, 2)
	z := graph.SetType(b.Op("Sigmoid", []*graph.Value{r}, nil), graph.Float, 1, 2, 2, 2)
	b.Output(z)
	m := b.Model()
	p, err := Annotate(m, Options{PerChannel: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Materialize(p, MaterializeOptions{Ranges: map[*graph.Value]Range{x: {0, 1}, p.Specs[r].Group: {0, 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.BiasFixes) != 1 || len(res.BiasFixes[0].Channels) != 1 || res.BiasFixes[0].Channels[0] != 0 {
		t.Fatalf("bias fixes %+v, want channel 0 of b", res.BiasFixes)
	}
}

func TestUpgradeOpsetAdaptsNodes(t *testing.T) {
	b := graph.NewBuilder(11)
	x := b.Input("x", graph.Float, 2, 3, 4)
	u := b.Op("Unsqueeze", []*graph.Value{x}, map[string]any{"axes": []int64{0}})
	c := b.Op("Clip", []*graph.Value{u}, nil)
	s := b.Op("Softmax", []*graph.Value{x}, map[string]any{"axis": int64(1)})
	b.Output(c, s)
	m := b.Model()
	var log Log
	if err := Run(m, &log, UpgradeOpset(13)); err != nil {
		t.Fatal(err)
	}
	if m.Opset("") != 13 {
		t.Fatalf("opset %d", m.Opset(""))
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes {
		ops[n.OpType]++
		if n.OpType == "Unsqueeze" && (len(n.Inputs) != 2 || !n.Inputs[1].IsConst() || n.HasAttr("axes")) {
			t.Errorf("Unsqueeze not adapted: %v", n)
		}
	}
	// Softmax over axis 1 of a rank-3 input is Flatten -> Softmax -> Reshape at opset 13.
	if ops["Flatten"] != 1 || ops["Reshape"] != 1 || ops["Shape"] != 1 {
		t.Errorf("Softmax not wrapped: %v", ops)
	}
	if m.Graph.Outputs[1] != s || s.Producer.OpType != "Reshape" {
		t.Errorf("Softmax output value must keep its identity as the Reshape output")
	}
	if len(log.Entries) != 1 || !strings.Contains(log.Entries[0].Message, "Softmax-13 x1") {
		t.Errorf("log %+v", log.Entries)
	}
}

func TestUpgradeOpsetRefusesUnknownOps(t *testing.T) {
	b := graph.NewBuilder(9)
	x := b.Input("x", graph.Float, 2)
	b.Output(b.Op("Foo", []*graph.Value{x}, nil), b.Op("Bar", []*graph.Value{x}, nil))
	err := Run(b.Model(), &Log{}, UpgradeOpset(13))
	if err == nil || !strings.Contains(err.Error(), "Bar, Foo") {
		t.Fatalf("want one error naming Bar and Foo, got %v", err)
	}
}

func TestFoldBatchNorm(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 2, 1, 1)
	w := b.Floats("w", []int64{2, 2, 1, 1}, 1, 2, 3, 4)
	c := b.Op("Conv", []*graph.Value{x, w}, nil)
	scale := b.Floats("s", []int64{2}, 2, 0.5)
	bias := b.Floats("bb", []int64{2}, 1, -1)
	mean := b.Floats("mu", []int64{2}, 0.5, 1)
	vr := b.Floats("var", []int64{2}, 4, 0.25)
	y := b.Op("BatchNormalization", []*graph.Value{c, scale, bias, mean, vr}, map[string]any{"epsilon": float32(0)})
	b.Output(y)
	m := b.Model()
	if err := Run(m, &Log{}, FoldBatchNorm); err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Nodes) != 1 || m.Graph.Nodes[0].OpType != "Conv" || m.Graph.Outputs[0] != y {
		t.Fatalf("nodes after folding: %v", m.Graph.Nodes)
	}
	conv := m.Graph.Nodes[0]
	// 1x1 conv on x = (1, 1): out_c = sum_i W[c,i]; BN: (out - mu)/sqrt(var)*s + b
	wf := conv.Inputs[1].Const.Data.([]float32)
	bf := conv.Inputs[2].Const.Data.([]float32)
	for ch, raw := range []float32{3, 7} {
		ref := (raw-[]float32{0.5, 1}[ch])/float32(math.Sqrt(float64([]float32{4, 0.25}[ch])))*[]float32{2, 0.5}[ch] + []float32{1, -1}[ch]
		got := wf[2*ch] + wf[2*ch+1] + bf[ch]
		if math.Abs(float64(got-ref)) > 1e-6 {
			t.Errorf("channel %d: folded conv gives %g, BN gave %g", ch, got, ref)
		}
	}
}

func TestFoldConvAffine(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 2, 1, 1)
	w := b.Floats("w", []int64{2, 2, 1, 1}, 1, 2, 3, 4)
	bias := b.Floats("b", []int64{2}, 0.5, -0.5)
	c := b.Op("Conv", []*graph.Value{x, w, bias}, nil)
	mul := b.Op("Mul", []*graph.Value{b.Floats("a", []int64{1}, 3), c}, nil)
	add := b.Op("Add", []*graph.Value{mul, b.Floats("c", []int64{1, 2, 1, 1}, 10, 20)}, nil)
	b.Output(add)
	m := b.Model()
	var log Log
	if err := Run(m, &log, FoldConvAffine); err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Nodes) != 1 || m.Graph.Outputs[0] != add || add.Producer.OpType != "Conv" {
		t.Fatalf("nodes %v", m.Graph.Nodes)
	}
	conv := m.Graph.Nodes[0]
	wf := conv.Inputs[1].Const.Data.([]float32)
	bf := conv.Inputs[2].Const.Data.([]float32)
	// x = (1, 1): conv_c = W[c,0] + W[c,1] + b_c, then *3, then + c_c.
	for ch, want := range []float32{(1+2+0.5)*3 + 10, (3+4-0.5)*3 + 20} {
		got := wf[2*ch] + wf[2*ch+1] + bf[ch]
		if math.Abs(float64(got-want)) > 1e-5 {
			t.Errorf("channel %d: %g, want %g", ch, got, want)
		}
	}
}

func TestDivToMulAndMergeChains(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 4)
	d := b.Op("Div", []*graph.Value{x, b.Floats("six", nil, 6)}, nil)
	m1 := b.Op("Mul", []*graph.Value{b.Floats("a", []int64{1}, 3), d}, nil)
	a1 := b.Op("Sub", []*graph.Value{m1, b.Floats("c", nil, 1)}, nil)
	a2 := b.Op("Add", []*graph.Value{a1, b.Floats("e", []int64{1}, 0.25)}, nil)
	b.Output(a2)
	m := b.Model()
	var log Log
	if err := Run(m, &log, DivToMul, MergeConstantChains); err != nil {
		t.Fatal(err)
	}
	// x/6*3 - 1 + 0.25 = x*0.5 - 0.75: one Mul and one Add remain.
	if len(m.Graph.Nodes) != 2 || m.Graph.Nodes[0].OpType != "Mul" || m.Graph.Nodes[1].OpType != "Add" {
		t.Fatalf("nodes %v", m.Graph.Nodes)
	}
	_, mc := constOperand(m.Graph.Nodes[0])
	_, ac := constOperand(m.Graph.Nodes[1])
	if got := mc.Const.Data.([]float32)[0]; math.Abs(float64(got-0.5)) > 1e-7 {
		t.Errorf("merged scale %g, want 0.5", got)
	}
	if got := ac.Const.Data.([]float32)[0]; got != -0.75 {
		t.Errorf("merged shift %g, want -0.75", got)
	}
	if m.Graph.Outputs[0] != a2 {
		t.Errorf("the output value changed identity")
	}
}

func TestFoldAffineIntoConv(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 2, 1, 1)
	m1 := b.Op("Mul", []*graph.Value{x, b.Floats("a", []int64{1}, 2)}, nil)
	a1 := b.Op("Add", []*graph.Value{m1, b.Floats("c", []int64{1, 2, 1, 1}, 1, -1)}, nil)
	w := b.Floats("w", []int64{2, 2, 1, 1}, 1, 2, 3, 4)
	y := b.Op("Conv", []*graph.Value{a1, w, b.Floats("b", []int64{2}, 0.5, 0.25)}, nil)
	b.Output(y)
	m := b.Model()
	if err := Run(m, &Log{}, FoldAffineIntoConv); err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Nodes) != 1 || m.Graph.Nodes[0].Inputs[0] != x {
		t.Fatalf("nodes %v", m.Graph.Nodes)
	}
	conv := m.Graph.Nodes[0]
	wf := conv.Inputs[1].Const.Data.([]float32)
	bf := conv.Inputs[2].Const.Data.([]float32)
	// x = (1, 3): original conv input (2*1+1, 2*3-1) = (3, 5).
	in := []float32{1, 3}
	for o, want := range []float32{1*3 + 2*5 + 0.5, 3*3 + 4*5 + 0.25} {
		got := wf[2*o]*in[0] + wf[2*o+1]*in[1] + bf[o]
		if math.Abs(float64(got-want)) > 1e-5 {
			t.Errorf("output %d: %g, want %g", o, got, want)
		}
	}
}

func TestWeightParamsMSEClipsOutliersAt4Bits(t *testing.T) {
	// One channel: many small weights and one outlier.
	// One channel: 1000 weights spread over [-0.5, 0.5] and one outlier at
	// 1. Min-max spends 4 bits' 15 levels on the outlier's range; clipping
	// near 0.6 costs the outlier 0.16 of squared error but saves more on
	// the bulk (step^2/12 per weight).
	vals := make([]float32, 1001)
	for i := range vals {
		vals[i] = float32(i%101-50) * 0.01
	}
	vals[0] = 1
	w := graph.MustTensor(graph.Float, []int64{1, 1001}, vals)
	s := &Spec{Value: &graph.Value{Const: w}, Role: RoleWeight, Type: quant.Type{DType: graph.Int4, Narrow: true}, Symmetric: true, Axis: 0}
	mse, err := WeightParamsMSE(w, s)
	if err != nil {
		t.Fatal(err)
	}
	mm, _ := WeightParamsMinMax(w, s)
	errOf := func(p quant.Params) float64 {
		var e float64
		for _, v := range vals {
			d := float64(v - quant.FakeQuant(v, p, graph.Int4))
			e += d * d
		}
		return e
	}
	if !(errOf(mse[0]) < errOf(mm[0])) || mse[0].Scale >= mm[0].Scale {
		t.Fatalf("MSE params %+v (error %g) do not beat min-max %+v (error %g)", mse[0], errOf(mse[0]), mm[0], errOf(mm[0]))
	}
}

// TestPlacementKeepsLightOpsOffFloatIslands builds x -> Conv -> HardSigmoid
// (no integer kernel) -> Add(·, y) -> Sigmoid (graph output), where
// quantizing the Add would need a QuantizeLinear on the HardSigmoid's
// output just for it: speed placement keeps the Add in float, size
// placement quantizes it.
func TestPlacementKeepsLightOpsOffFloatIslands(t *testing.T) {
	build := func() (*graph.Model, *graph.Value) {
		b := graph.NewBuilder(13)
		x := b.Input("x", graph.Float, 1, 2, 4, 4)
		c := graph.SetType(b.Op("Conv", []*graph.Value{x, b.Floats("w", []int64{2, 2, 1, 1}, 1, 2, 3, 4)}, nil), graph.Float, 1, 2, 4, 4)
		h := graph.SetType(b.Op("HardSigmoid", []*graph.Value{c}, nil), graph.Float, 1, 2, 4, 4)
		y := b.Input("y", graph.Float, 1, 2, 4, 4)
		a := graph.SetType(b.Op("Add", []*graph.Value{h, y}, nil), graph.Float, 1, 2, 4, 4)
		b.Output(graph.SetType(b.Op("Sigmoid", []*graph.Value{a}, nil), graph.Float, 1, 2, 4, 4))
		return b.Model(), a
	}
	for _, tc := range []struct {
		placement Placement
		addQuant  bool
	}{{PlaceSpeed, false}, {PlaceSize, true}} {
		m, a := build()
		p, err := Annotate(m, Options{Placement: tc.placement})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Decisions {
			if d.Node == a.Producer && d.Quantized != tc.addQuant {
				t.Errorf("%s placement: Add quantized=%v (%s), want %v", tc.placement, d.Quantized, d.Reason, tc.addQuant)
			}
		}
	}
}
