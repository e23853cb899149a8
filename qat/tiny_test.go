package qat

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// tiny is a two-layer QDQ network built in code:
//
//	x[1,4] -Q/DQ(u8, 0.05, 128)-> Gemm(W1[4,3] Q/DQ i8 0.01, b1) -> Relu
//	  -Q/DQ(u8, 0.02, 0)-> Gemm(W2[3,2] Q/DQ i8 per-channel [0.01 0.02] axis 1, b2) -> z[1,2]
type tiny struct {
	sx, sw1, sh float64
	sw2         [2]float64
	w1          [4][3]float64
	b1          [3]float64
	w2          [3][2]float64
	b2          [2]float64
}

func newTiny() *tiny {
	t := &tiny{sx: 0.05, sw1: 0.01, sh: 0.02, sw2: [2]float64{0.01, 0.02}}
	// Values picked away from rounding boundaries of their grids (checked
	// by checkMargins).
	t.w1 = [4][3]float64{{0.512, -0.331, 0.1043}, {-0.2271, 0.4112, 0.3018}, {0.0734, -0.1529, 0.6211}, {0.3319, 0.2487, -0.4406}}
	t.b1 = [3]float64{0.0512, -0.0207, 0.1318}
	t.w2 = [3][2]float64{{0.8112, -0.5208}, {-0.6473, 0.9884}, {0.4031, 0.3262}}
	t.b2 = [2]float64{0.0311, -0.0114}
	return t
}

func (t *tiny) model() *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 4)
	qdq := func(v *graph.Value, scale *graph.Tensor, zp *graph.Tensor, attrs map[string]any) *graph.Value {
		s := b.Const(v.Name+"_scale", scale)
		z := b.Const(v.Name+"_zp", zp)
		q := b.Op("QuantizeLinear", []*graph.Value{v, s, z}, attrs)
		return b.Op("DequantizeLinear", []*graph.Value{q, s, z}, attrs)
	}
	u8 := func(v uint8) *graph.Tensor { return graph.MustTensor(graph.Uint8, nil, []uint8{v}) }
	xq := qdq(x, graph.Scalar(float32(t.sx)), u8(128), nil)
	w1 := b.Floats("W1", []int64{4, 3}, f32s(t.w1[0][:], t.w1[1][:], t.w1[2][:], t.w1[3][:])...)
	w1q := qdq(w1, graph.Scalar(float32(t.sw1)), graph.MustTensor(graph.Int8, nil, []int8{0}), nil)
	b1 := b.Floats("b1", []int64{3}, f32s(t.b1[:])...)
	h := b.Op("Relu", []*graph.Value{b.Op("Gemm", []*graph.Value{xq, w1q, b1}, nil)}, nil)
	hq := qdq(h, graph.Scalar(float32(t.sh)), u8(0), nil)
	w2 := b.Floats("W2", []int64{3, 2}, f32s(t.w2[0][:], t.w2[1][:], t.w2[2][:])...)
	w2q := qdq(w2, graph.MustTensor(graph.Float, []int64{2}, f32s(t.sw2[:])), graph.MustTensor(graph.Int8, []int64{2}, []int8{0, 0}), map[string]any{"axis": int64(1)})
	b2 := b.Floats("b2", []int64{2}, f32s(t.b2[:])...)
	z := b.Op("Gemm", []*graph.Value{hq, w2q, b2}, nil)
	graph.SetType(z, graph.Float, 1, 2)
	b.Output(z)
	return b.Model()
}

func f32s(rows ...[]float64) []float32 {
	var out []float32
	for _, r := range rows {
		for _, v := range r {
			out = append(out, float32(v))
		}
	}
	return out
}

// fq is Q -> DQ in float64 on float32-rounded operands.
func fq(x, s float64, zp, lo, hi int64) float64 {
	q := math.RoundToEven(float64(float32(x)/float32(s))) + float64(zp)
	q = math.Max(float64(lo), math.Min(float64(hi), q))
	return float64(float32((q - float64(zp)) * float64(float32(s))))
}

// margin is how far x/s is from a rounding boundary, in steps.
func margin(x, s float64) float64 {
	r := x / s
	return math.Abs(math.Abs(r-math.Floor(r)) - 0.5)
}

// grads computes the loss and the gradients of the mean cross-entropy
// over samples by hand: forward through exact fake quantization, backward
// with the straight-through estimator (every value here is inside its
// quantization range, so every mask is 1 except Relu's).
func (t *tiny) grads(tb testing.TB, xs [][4]float64, labels []int) (loss float64, gw1 [4][3]float64, gb1 [3]float64, gw2 [3][2]float64, gb2 [2]float64) {
	n := float64(len(xs))
	for si, x := range xs {
		var xq [4]float64
		for i := range x {
			xq[i] = fq(x[i], t.sx, 128, 0, 255)
			if margin(x[i], t.sx) < 0.01 {
				tb.Fatalf("x[%d][%d] too close to a rounding boundary", si, i)
			}
		}
		var w1q [4][3]float64
		for i := range w1q {
			for j := range w1q[i] {
				w1q[i][j] = fq(t.w1[i][j], t.sw1, 0, -128, 127)
			}
		}
		var w2q [3][2]float64
		for i := range w2q {
			for j := range w2q[i] {
				w2q[i][j] = fq(t.w2[i][j], t.sw2[j], 0, -128, 127)
			}
		}
		var pre, hq [3]float64
		for j := 0; j < 3; j++ {
			bq := fq(t.b1[j], float64(float32(t.sx)*float32(t.sw1)), 0, math.MinInt32, math.MaxInt32)
			pre[j] = bq
			for i := 0; i < 4; i++ {
				pre[j] += xq[i] * w1q[i][j]
			}
			h := math.Max(pre[j], 0)
			if margin(h, t.sh) < 0.01 {
				tb.Fatalf("sample %d: hidden %d (%g) too close to a rounding boundary", si, j, h)
			}
			hq[j] = fq(h, t.sh, 0, 0, 255)
		}
		var z [2]float64
		for k := 0; k < 2; k++ {
			z[k] = fq(t.b2[k], float64(float32(t.sh)*float32(t.sw2[k])), 0, math.MinInt32, math.MaxInt32)
			for j := 0; j < 3; j++ {
				z[k] += hq[j] * w2q[j][k]
			}
		}
		m := math.Max(z[0], z[1])
		lse := m + math.Log(math.Exp(z[0]-m)+math.Exp(z[1]-m))
		loss += (lse - z[labels[si]]) / n
		var dz [2]float64
		for k := range dz {
			dz[k] = math.Exp(z[k]-lse) / n
		}
		dz[labels[si]] -= 1 / n
		var dpre [3]float64
		for j := 0; j < 3; j++ {
			var dh float64
			for k := 0; k < 2; k++ {
				gw2[j][k] += hq[j] * dz[k]
				dh += dz[k] * w2q[j][k]
			}
			if pre[j] > 0 {
				dpre[j] = dh
			}
		}
		for k := range dz {
			gb2[k] += dz[k]
		}
		for j := range dpre {
			gb1[j] += dpre[j]
			for i := 0; i < 4; i++ {
				gw1[i][j] += xq[i] * dpre[j]
			}
		}
	}
	return
}

func tinyData(xs [][4]float64, labels []int) (dataset.Source, []int64) {
	var data []float32
	var lab []int64
	for i, x := range xs {
		data = append(data, f32s(x[:])...)
		lab = append(lab, int64(labels[i]))
	}
	src, err := dataset.NewArraySource(map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{int64(len(xs)), 1, 4}, data)})
	if err != nil {
		panic(err)
	}
	return src, lab
}

func initializer(tb testing.TB, m *graph.Model, name string) []float32 {
	tb.Helper()
	for _, v := range m.Graph.Initializers {
		if v.Name == name {
			f, err := v.Const.Float32s()
			if err != nil {
				tb.Fatal(err)
			}
			return f
		}
	}
	tb.Fatalf("no initializer %q", name)
	return nil
}

// TestTinyStepMatchesHand checks Lower + one SGD step on the hand-built
// network against the gradient computed by hand, for one sample, and for
// a batch of three run at once (re-batched) and accumulated sample by
// sample. The engine computes in float32 and the hand computation in
// float64 on the same quantized operands, so updated weights agree to
// float32 rounding of the gradients: 1e-6 absolute on weights of size ~0.5
// after a step of lr 0.5 x gradients of size <~1.
func TestTinyStepMatchesHand(t *testing.T) {
	xs := [][4]float64{{1.013, -2.121, 0.537, 3.011}, {-0.788, 1.561, 2.438, -1.164}, {2.263, 0.412, -1.337, 0.861}}
	labels := []int{1, 0, 1}
	const lr = 0.5
	for _, c := range []struct {
		name       string
		n          int
		accumulate bool
	}{{"one", 1, false}, {"batch-rebatched", 3, false}, {"batch-accumulated", 3, true}} {
		t.Run(c.name, func(t *testing.T) {
			ty := newTiny()
			m := ty.model()
			tm, err := ToTraining(m)
			if err != nil {
				t.Fatal(err)
			}
			src, lab := tinyData(xs[:c.n], labels[:c.n])
			res, err := Train(tm, Data{Inputs: src, Labels: lab}, Config{Optimizer: SGD, LR: lr, Temperature: 1, BatchSize: c.n, MaxSteps: 1, Accumulate: c.accumulate})
			if err != nil {
				t.Fatal(err)
			}
			if c.n > 1 && res.Rebatched == c.accumulate {
				t.Fatalf("rebatched = %v with Accumulate = %v (%s)", res.Rebatched, c.accumulate, res.Accumulated)
			}
			loss, gw1, gb1, gw2, gb2 := ty.grads(t, xs[:c.n], labels[:c.n])
			if math.Abs(res.FinalLoss-loss) > 1e-5*math.Max(1, loss) {
				t.Errorf("loss %g, by hand %g", res.FinalLoss, loss)
			}
			check := func(name string, got []float32, before, grad []float64) {
				t.Helper()
				for i := range got {
					want := before[i] - lr*grad[i]
					if math.Abs(float64(got[i])-want) > 1e-6 {
						t.Errorf("%s[%d] = %.8f after the step, by hand %.8f (gradient %g)", name, i, got[i], want, grad[i])
					}
				}
			}
			flat := func(rows ...[]float64) []float64 {
				var out []float64
				for _, r := range rows {
					out = append(out, r...)
				}
				return out
			}
			check("W1", initializer(t, m, "W1"), flat(ty.w1[0][:], ty.w1[1][:], ty.w1[2][:], ty.w1[3][:]), flat(gw1[0][:], gw1[1][:], gw1[2][:], gw1[3][:]))
			check("b1", initializer(t, m, "b1"), ty.b1[:], gb1[:])
			check("W2", initializer(t, m, "W2"), flat(ty.w2[0][:], ty.w2[1][:], ty.w2[2][:]), flat(gw2[0][:], gw2[1][:], gw2[2][:]))
			check("b2", initializer(t, m, "b2"), ty.b2[:], gb2[:])
		})
	}
}

// TestTinyTwoSteps checks that the second step uses the gradient at the
// updated weights alone (Gorgonia adds each run's gradient to the dual
// values unless they are zeroed) and SGD momentum 0.9: w2 = w1 - lr (0.9
// g0 + g1).
func TestTinyTwoSteps(t *testing.T) {
	xs := [][4]float64{{1.013, -2.121, 0.537, 3.011}}
	labels := []int{1}
	const lr = 0.05
	src, lab := tinyData(xs, labels)
	cfg := Config{Optimizer: SGD, LR: lr, Temperature: 1, Momentum: 0.9, BatchSize: 1, Epochs: 2}
	// After one step: the weights w1 the second gradient is taken at.
	ty := newTiny()
	m1 := ty.model()
	tm1, err := ToTraining(m1)
	if err != nil {
		t.Fatal(err)
	}
	one := cfg
	one.MaxSteps = 1
	if _, err := Train(tm1, Data{Inputs: src, Labels: lab}, one); err != nil {
		t.Fatal(err)
	}
	_, g0w1, g0b1, g0w2, g0b2 := ty.grads(t, xs, labels)
	after := newTiny()
	w1 := initializer(t, m1, "W1")
	w2 := initializer(t, m1, "W2")
	b1 := initializer(t, m1, "b1")
	b2 := initializer(t, m1, "b2")
	for i := range after.w1 {
		for j := range after.w1[i] {
			after.w1[i][j] = float64(w1[i*3+j])
		}
	}
	for i := range after.w2 {
		for j := range after.w2[i] {
			after.w2[i][j] = float64(w2[i*2+j])
		}
	}
	for j := range after.b1 {
		after.b1[j] = float64(b1[j])
	}
	for j := range after.b2 {
		after.b2[j] = float64(b2[j])
	}
	_, g1w1, g1b1, g1w2, g1b2 := after.grads(t, xs, labels)
	// Two steps from the start.
	m2 := newTiny().model()
	tm2, err := ToTraining(m2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Train(tm2, Data{Inputs: src, Labels: lab}, cfg); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, w1 []float32, g0, g1 []float64) {
		t.Helper()
		for i := range got {
			want := float64(w1[i]) - lr*(0.9*g0[i]+g1[i])
			if math.Abs(float64(got[i])-want) > 1e-6 {
				t.Errorf("%s[%d] = %.8f after two steps, by hand %.8f", name, i, got[i], want)
			}
		}
	}
	flat := func(rows ...[]float64) []float64 {
		var out []float64
		for _, r := range rows {
			out = append(out, r...)
		}
		return out
	}
	check("W1", initializer(t, m2, "W1"), w1, flat(g0w1[0][:], g0w1[1][:], g0w1[2][:], g0w1[3][:]), flat(g1w1[0][:], g1w1[1][:], g1w1[2][:], g1w1[3][:]))
	check("b1", initializer(t, m2, "b1"), b1, g0b1[:], g1b1[:])
	check("W2", initializer(t, m2, "W2"), w2, flat(g0w2[0][:], g0w2[1][:], g0w2[2][:]), flat(g1w2[0][:], g1w2[1][:], g1w2[2][:]))
	check("b2", initializer(t, m2, "b2"), b2, g0b2[:], g1b2[:])
}
