package qat

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// lossCase is a loss op with its attributes and a target generator.
type lossCase struct {
	name   string
	op     string
	temp   float32
	target func(r *rand.Rand, rows, c int) []float32
	// pred draws one prediction (default: 3 x a standard normal).
	pred func(r *rand.Rand) float32
}

// probability draws a probability away from 0 and 1, where the finite
// differences of log p and log(1 - p) stay accurate.
func probability(r *rand.Rand) float32 { return float32(0.05 + 0.9*r.Float64()) }

func probabilities(r *rand.Rand, rows, c int) []float32 {
	t := make([]float32, rows*c)
	for i := range t {
		t[i] = float32(r.Float64())
	}
	return t
}

func oneHot(r *rand.Rand, rows, c int) []float32 {
	t := make([]float32, rows*c)
	for i := 0; i < rows; i++ {
		t[i*c+r.IntN(c)] = 1
	}
	return t
}

func softTargets(r *rand.Rand, rows, c int) []float32 {
	t := make([]float32, rows*c)
	for i := 0; i < rows; i++ {
		var s float64
		for k := 0; k < c; k++ {
			v := math.Exp(2 * r.NormFloat64())
			t[i*c+k] = float32(v)
			s += v
		}
		for k := 0; k < c; k++ {
			t[i*c+k] /= float32(s)
		}
	}
	return t
}

func normal(r *rand.Rand, rows, c int) []float32 {
	t := make([]float32, rows*c)
	for i := range t {
		t[i] = float32(r.NormFloat64())
	}
	return t
}

// TestLossGradients checks SoftCrossEntropy (one-hot and soft targets,
// temperatures 1 and 4), MeanSquaredError and BinaryCrossEntropy
// (probabilities in [0.05, 0.95]) against central finite
// differences of their forward pass, with an upstream gradient of 0.7 to
// check the chain rule. The forward pass accumulates in float64 and
// returns float32: the quotient with h = 1e-3 on logits of size ~3 is off
// by at most ulp(loss) / 2h ~ 1e-4 relative, so the tolerance is 2e-3 of
// the largest gradient entry.
func TestLossGradients(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := []lossCase{
		{"ce-onehot-T1", SoftCrossEntropyOp, 1, oneHot, nil},
		{"ce-soft-T1", SoftCrossEntropyOp, 1, softTargets, nil},
		{"kl-soft-T4", SoftCrossEntropyOp, 4, softTargets, nil},
		{"ce-onehot-T4", SoftCrossEntropyOp, 4, oneHot, nil},
		{"mse", MeanSquaredErrorOp, 0, normal, nil},
		{"bce", BinaryCrossEntropyOp, 0, probabilities, probability},
	}
	for _, c := range cases {
		for _, shape := range [][]int64{{1, 10}, {3, 5}, {2, 2, 4}} {
			t.Run(c.name, func(t *testing.T) {
				n := &graph.Node{OpType: c.op, Domain: Domain}
				if c.temp != 0 {
					n.SetAttr("temperature", c.temp)
				}
				ctx := &engine.Context{Node: n}
				size := int(shape[0])
				for _, d := range shape[1:] {
					size *= int(d)
				}
				cdim := int(shape[len(shape)-1])
				p := make([]float32, size)
				for i := range p {
					if c.pred != nil {
						p[i] = c.pred(r)
					} else {
						p[i] = float32(3 * r.NormFloat64())
					}
				}
				tgt := graph.MustTensor(graph.Float, shape, c.target(r, size/cdim, cdim))
				loss := func(p []float32) float64 {
					out, err := engine.Lookup(Domain, c.op, 1).Forward(ctx, []*graph.Tensor{graph.MustTensor(graph.Float, shape, p), tgt})
					if err != nil {
						t.Fatal(err)
					}
					return float64(out[0].Data.([]float32)[0])
				}
				const up = 0.7
				g, err := engine.Lookup(Domain, c.op, 1).Backward(ctx, []*graph.Tensor{graph.MustTensor(graph.Float, shape, p), tgt}, nil, []*graph.Tensor{graph.Scalar(up)})
				if err != nil {
					t.Fatal(err)
				}
				if g[1] != nil {
					t.Errorf("the target gets a gradient")
				}
				dp, _ := g[0].Float32s()
				var gmax float64
				for _, v := range dp {
					gmax = math.Max(gmax, math.Abs(float64(v)))
				}
				const h = 1e-3
				for i := range p {
					plus := append([]float32{}, p...)
					minus := append([]float32{}, p...)
					plus[i] += h
					minus[i] -= h
					dh := float64(plus[i]) - float64(minus[i])
					fd := up * (loss(plus) - loss(minus)) / dh
					if math.Abs(fd-float64(dp[i])) > 2e-3*math.Max(gmax, 1e-3) {
						t.Fatalf("shape %v element %d: gradient %g, finite difference %g", shape, i, dp[i], fd)
					}
				}
			})
		}
	}
}

// TestSoftCrossEntropyValues checks the forward pass against its
// definition: with one-hot targets it is the mean negative log-likelihood;
// at temperature T with the teacher's softmax(z/T) as target, T^2 times
// the KL divergence plus the teacher's entropy, so it is smallest (and its
// gradient 0) when the student's logits equal the teacher's.
func TestSoftCrossEntropyValues(t *testing.T) {
	op := engine.Lookup(Domain, SoftCrossEntropyOp, 1)
	n := &graph.Node{OpType: SoftCrossEntropyOp, Domain: Domain}
	z := []float32{1, 2, 3, 0.5, 0.5, -1}
	oh := []float32{0, 0, 1, 1, 0, 0}
	out, err := op.Forward(&engine.Context{Node: n}, []*graph.Tensor{graph.MustTensor(graph.Float, []int64{2, 3}, z), graph.MustTensor(graph.Float, []int64{2, 3}, oh)})
	if err != nil {
		t.Fatal(err)
	}
	lse := func(a, b, c float64) float64 { return math.Log(math.Exp(a) + math.Exp(b) + math.Exp(c)) }
	want := ((lse(1, 2, 3) - 3) + (lse(0.5, 0.5, -1) - 0.5)) / 2
	if got := float64(out[0].Data.([]float32)[0]); math.Abs(got-want) > 1e-6 {
		t.Errorf("mean NLL %g, want %g", got, want)
	}
	const temp = 3
	n.SetAttr("temperature", float32(temp))
	soft := make([]float32, len(z))
	ls := make([]float64, 3)
	var entropy float64
	for r := 0; r < 2; r++ {
		logSoftmax(z[r*3:(r+1)*3], temp, ls)
		for k := 0; k < 3; k++ {
			soft[r*3+k] = float32(math.Exp(ls[k]))
			entropy -= math.Exp(ls[k]) * ls[k]
		}
	}
	in := []*graph.Tensor{graph.MustTensor(graph.Float, []int64{2, 3}, z), graph.MustTensor(graph.Float, []int64{2, 3}, soft)}
	out, err = op.Forward(&engine.Context{Node: n}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := float64(out[0].Data.([]float32)[0]), temp*temp*entropy/2; math.Abs(got-want) > 1e-5 {
		t.Errorf("distillation loss at the teacher's own logits %g, want T^2 x entropy = %g", got, want)
	}
	g, err := op.Backward(&engine.Context{Node: n}, in, nil, []*graph.Tensor{graph.Scalar(1)})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range g[0].Data.([]float32) {
		if math.Abs(float64(v)) > 1e-6 {
			t.Errorf("gradient %d at the teacher's logits is %g, want 0", i, v)
		}
	}
}

// TestBinaryCrossEntropyValues checks the forward pass against its
// definition on a hand-computed case, and that it is finite where the
// prediction has saturated to exactly 0 or 1 in float32.
func TestBinaryCrossEntropyValues(t *testing.T) {
	op := engine.Lookup(Domain, BinaryCrossEntropyOp, 1)
	ctx := &engine.Context{Node: &graph.Node{OpType: BinaryCrossEntropyOp, Domain: Domain}}
	run := func(p, y []float32) float64 {
		out, err := op.Forward(ctx, []*graph.Tensor{graph.MustTensor(graph.Float, []int64{int64(len(p))}, p), graph.MustTensor(graph.Float, []int64{int64(len(y))}, y)})
		if err != nil {
			t.Fatal(err)
		}
		return float64(out[0].Data.([]float32)[0])
	}
	// -(0.3 log 0.2 + 0.7 log 0.8) and -(1 log 0.9): mean of the two.
	want := (-(0.3*math.Log(0.2) + 0.7*math.Log(0.8)) - math.Log(0.9)) / 2
	if got := run([]float32{0.2, 0.9}, []float32{0.3, 1}); math.Abs(got-want) > 1e-6 {
		t.Errorf("loss %.7f, want %.7f", got, want)
	}
	// Saturated: p = 0 against y = 1 costs -log(1e-7), not infinity.
	if got := run([]float32{0, 1}, []float32{1, 0}); math.Abs(got+math.Log(bceEps)) > 1e-3 {
		t.Errorf("saturated loss %g, want %g", got, -math.Log(bceEps))
	}
}
