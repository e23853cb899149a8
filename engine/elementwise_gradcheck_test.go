package engine

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// Gradient checks of the elementwise, activation, reduce and shape
// operators against central finite differences (checkGrad in
// conv_gradcheck_test.go: loss = Σ Y·R in float64 with fixed random R).
//
// Steps and tolerances. Forward values are float32, so the loss carries a
// rounding error of about 2^-24·|y| per changed output element; divided by
// the 2ε of the central difference that is ~3e-5·|y| for ε = 1e-3 and
// ~3e-6·|y| for ε = 1e-2. The truncation error of the central difference
// is ε²·|f'''|/6: below 1e-6 for ε = 1e-3 on the smooth functions here
// (|f'''| of order 1 on their inputs). Both are well inside the default
// tolerance |analytic - numeric| <= 1e-3 + 1e-3·|numeric|. Piecewise-linear
// operators (Relu, Abs, Clip, Max...) are exact away from their kinks, so
// their inputs keep at least 0.05 from every kink and the step is 1e-2:
// the difference never crosses a kink.

// awayFrom returns a float32 tensor with values uniform in [lo, hi) that
// keep at least gap from each kink.
func awayFrom(rng *rand.Rand, lo, hi, gap float64, kinks []float64, shape ...int64) *graph.Tensor {
	n := ShapeSize(shape)
	d := make([]float32, n)
	for i := range d {
	again:
		v := lo + rng.Float64()*(hi-lo)
		for _, k := range kinks {
			if math.Abs(v-k) < gap {
				goto again
			}
		}
		d[i] = float32(v)
	}
	return graph.MustTensor(graph.Float, shape, d)
}

// positive returns values uniform in [0.5, 1.5): the domain of Sqrt, Log
// and Reciprocal kept away from 0.
func positive(rng *rand.Rand, shape ...int64) *graph.Tensor {
	return awayFrom(rng, 0.5, 1.5, 0, nil, shape...)
}

// separated returns b = a + offsets of magnitude in [0.05, 0.5), so that
// Max and Min have no ties within the step.
func separated(rng *rand.Rand, a *graph.Tensor) *graph.Tensor {
	x := a.Data.([]float32)
	d := make([]float32, len(x))
	for i, v := range x {
		off := 0.05 + rng.Float64()*0.45
		if rng.IntN(2) == 0 {
			off = -off
		}
		d[i] = v + float32(off)
	}
	return graph.MustTensor(graph.Float, a.Shape, d)
}

func ints(shape []int64, v ...int64) *graph.Tensor { return graph.MustTensor(graph.Int64, shape, v) }

func TestElementwiseGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	r := func(shape ...int64) *graph.Tensor { return randTensor(rng, shape...) }
	kinked := func(kinks []float64, shape ...int64) *graph.Tensor {
		return awayFrom(rng, -1, 1, 0.05, kinks, shape...)
	}
	a := r(2, 3, 4)
	cases := []gradCase{
		// Binary arithmetic, same shapes and broadcast both ways.
		{op: "Add", opset: 14, inputs: []*graph.Tensor{r(2, 3, 4), r(3, 1)}},
		{op: "Sub", opset: 14, inputs: []*graph.Tensor{r(4), r(2, 3, 4)}},
		{op: "Mul", opset: 14, inputs: []*graph.Tensor{r(2, 3, 4), r(2, 1, 4)}},
		{op: "Div", opset: 14, inputs: []*graph.Tensor{r(2, 3, 4), positive(rng, 3, 1)}},
		{op: "Pow", opset: 15, inputs: []*graph.Tensor{positive(rng, 2, 3), r(3)}},
		{op: "Max", opset: 13, inputs: []*graph.Tensor{a, separated(rng, a)}, eps: 1e-2},
		{op: "Min", opset: 13, inputs: []*graph.Tensor{a, separated(rng, a)}, eps: 1e-2},
		{op: "Sum", opset: 13, inputs: []*graph.Tensor{r(2, 3), r(3), r(2, 1)}},
		{op: "Mean", opset: 13, inputs: []*graph.Tensor{r(2, 3), r(3)}},
		{op: "Where", opset: 16, inputs: []*graph.Tensor{
			graph.MustTensor(graph.Bool, []int64{3}, []bool{true, false, true}), r(2, 3), r(2, 1)}},
		// Unary math.
		{op: "Neg", opset: 13, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Abs", opset: 13, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}, eps: 1e-2},
		{op: "Sqrt", opset: 13, inputs: []*graph.Tensor{positive(rng, 3, 4)}},
		{op: "Reciprocal", opset: 13, inputs: []*graph.Tensor{positive(rng, 3, 4)}},
		{op: "Exp", opset: 13, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Log", opset: 13, inputs: []*graph.Tensor{positive(rng, 3, 4)}},
		{op: "Erf", opset: 13, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Sin", opset: 7, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Cos", opset: 7, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Tan", opset: 7, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Softplus", opset: 1, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Softsign", opset: 1, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}},
		// Activations.
		{op: "Relu", opset: 14, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}, eps: 1e-2},
		{op: "LeakyRelu", opset: 16, attrs: map[string]any{"alpha": float32(0.1)}, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}, eps: 1e-2},
		{op: "PRelu", opset: 16, inputs: []*graph.Tensor{kinked([]float64{0}, 2, 3, 4), r(3, 1)}, eps: 1e-2},
		{op: "Clip", opset: 13, wrt: []int{0}, inputs: []*graph.Tensor{kinked([]float64{-0.5, 0.5}, 3, 4), graph.Scalar(-0.5), graph.Scalar(0.5)}, eps: 1e-2},
		{op: "Clip", opset: 6, attrs: map[string]any{"min": float32(-0.3), "max": float32(0.6)}, inputs: []*graph.Tensor{kinked([]float64{-0.3, 0.6}, 3, 4)}, eps: 1e-2},
		{op: "Sigmoid", opset: 13, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Tanh", opset: 13, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "HardSigmoid", opset: 6, attrs: map[string]any{"alpha": float32(0.5), "beta": float32(0.5)}, inputs: []*graph.Tensor{kinked([]float64{-1, 1}, 3, 4)}, eps: 1e-2},
		{op: "HardSwish", opset: 14, inputs: []*graph.Tensor{awayFrom(rng, -4, 4, 0.05, []float64{-3, 3}, 3, 4)}, eps: 1e-2},
		{op: "Elu", opset: 6, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}},
		{op: "Selu", opset: 6, inputs: []*graph.Tensor{kinked([]float64{0}, 3, 4)}},
		{op: "Gelu", opset: 20, inputs: []*graph.Tensor{r(3, 4)}},
		{op: "Softmax", opset: 13, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "Softmax", opset: 11, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "Softmax", opset: 13, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "LogSoftmax", opset: 13, attrs: map[string]any{"axis": 0}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "LogSoftmax", opset: 11, inputs: []*graph.Tensor{r(2, 3, 4)}},
		// Reductions.
		{op: "ReduceSum", opset: 13, inputs: []*graph.Tensor{r(2, 3, 4), ints([]int64{1}, 1)}},
		{op: "ReduceSum", opset: 11, attrs: map[string]any{"keepdims": 0}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "ReduceMean", opset: 13, attrs: map[string]any{"axes": []int64{0, -1}}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "ReduceMean", opset: 18, attrs: map[string]any{"keepdims": 0}, inputs: []*graph.Tensor{r(2, 3, 4), ints([]int64{1}, 2)}},
		{op: "ReduceMax", opset: 13, attrs: map[string]any{"axes": []int64{1}}, inputs: []*graph.Tensor{distinctTensor(rng, 2, 3, 4)}, eps: 1e-2},
		{op: "ReduceMin", opset: 18, inputs: []*graph.Tensor{distinctTensor(rng, 2, 3, 4), ints([]int64{2}, 0, 2)}, eps: 1e-2},
		{op: "ReduceL1", opset: 13, inputs: []*graph.Tensor{kinked([]float64{0}, 2, 3)}, eps: 1e-2},
		{op: "ReduceL2", opset: 13, attrs: map[string]any{"axes": []int64{1}}, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "ReduceSumSquare", opset: 13, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "ReduceLogSum", opset: 13, inputs: []*graph.Tensor{positive(rng, 2, 3)}},
		{op: "ReduceLogSumExp", opset: 13, attrs: map[string]any{"axes": []int64{0}}, inputs: []*graph.Tensor{r(2, 3)}},
		// Shape operators: the gradient is a permutation or scatter.
		{op: "Reshape", opset: 14, inputs: []*graph.Tensor{r(2, 3, 4), ints([]int64{2}, 4, -1)}},
		{op: "Flatten", opset: 13, attrs: map[string]any{"axis": 2}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "Transpose", opset: 13, attrs: map[string]any{"perm": []int64{2, 0, 1}}, inputs: []*graph.Tensor{r(2, 3, 4)}},
		{op: "Concat", opset: 13, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3, 2), r(2, 1, 2), r(2, 2, 2)}},
		{op: "Split", opset: 13, attrs: map[string]any{"axis": 2}, outputs: 2, inputs: []*graph.Tensor{r(2, 3, 4), ints([]int64{2}, 1, 3)}},
		{op: "Split", opset: 18, attrs: map[string]any{"num_outputs": 3}, outputs: 3, inputs: []*graph.Tensor{r(5, 2)}},
		{op: "Slice", opset: 13, inputs: []*graph.Tensor{r(4, 5), ints([]int64{2}, 3, 1), ints([]int64{2}, 0, 5), ints([]int64{2}, 0, 1), ints([]int64{2}, -1, 2)}},
		{op: "Squeeze", opset: 13, inputs: []*graph.Tensor{r(2, 1, 3), ints([]int64{1}, 1)}},
		{op: "Unsqueeze", opset: 11, attrs: map[string]any{"axes": []int64{0, 3}}, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "Gather", opset: 13, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3, 4), ints([]int64{2, 2}, 0, 2, -1, 0)}},
		{op: "GatherElements", opset: 13, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3), ints([]int64{2, 2}, 0, 2, 1, 1)}},
		{op: "Expand", opset: 13, inputs: []*graph.Tensor{r(3, 1), ints([]int64{3}, 2, 3, 4)}},
		{op: "Tile", opset: 13, inputs: []*graph.Tensor{r(2, 3), ints([]int64{2}, 2, 3)}},
		{op: "Identity", opset: 13, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "Dropout", opset: 13, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "Cast", opset: 13, attrs: map[string]any{"to": int64(graph.Double)}, inputs: []*graph.Tensor{r(2, 3)}},
		{op: "DepthToSpace", opset: 13, attrs: map[string]any{"blocksize": 2, "mode": "CRD"}, inputs: []*graph.Tensor{r(1, 8, 2, 3)}},
		{op: "SpaceToDepth", opset: 13, attrs: map[string]any{"blocksize": 2}, inputs: []*graph.Tensor{r(1, 2, 4, 2)}},
		{op: "ReverseSequence", opset: 10, inputs: []*graph.Tensor{r(4, 3, 2), ints([]int64{3}, 4, 1, 2)}},
		{op: "Compress", opset: 11, attrs: map[string]any{"axis": 1}, inputs: []*graph.Tensor{r(2, 3), graph.MustTensor(graph.Bool, []int64{3}, []bool{true, false, true})}},
		{op: "CumSum", opset: 14, attrs: map[string]any{"exclusive": 1, "reverse": 1}, inputs: []*graph.Tensor{r(2, 3, 4), ints(nil, 1)}},
		{op: "CumSum", opset: 14, inputs: []*graph.Tensor{r(2, 3), ints(nil, -1)}},
		// Losses (gradient with respect to the scores only).
		{op: "NegativeLogLikelihoodLoss", opset: 13, wrt: []int{0}, attrs: map[string]any{"ignore_index": 1},
			inputs: []*graph.Tensor{r(3, 4, 2), ints([]int64{3, 2}, 0, 1, 3, 2, 1, 0), r(4)}},
		{op: "NegativeLogLikelihoodLoss", opset: 13, attrs: map[string]any{"reduction": "none"},
			inputs: []*graph.Tensor{r(3, 4), ints([]int64{3}, 0, 3, 2)}},
		{op: "SoftmaxCrossEntropyLoss", opset: 13, wrt: []int{0},
			inputs: []*graph.Tensor{r(3, 4, 2), ints([]int64{3, 2}, 0, 1, 3, 2, 1, 0), positive(rng, 4)}},
		{op: "SoftmaxCrossEntropyLoss", opset: 13, attrs: map[string]any{"reduction": "sum"}, outputs: 2,
			inputs: []*graph.Tensor{r(3, 4), ints([]int64{3}, 0, 3, 2)}},
	}
	for _, c := range cases {
		if c.eps == 0 {
			c.eps = 1e-3
		}
		t.Run(c.op, func(t *testing.T) { checkGrad(t, c) })
	}
}

// TestEveryGradientIsChecked fails when an operator of this half of the
// engine gains a Backward without a case in TestElementwiseGradients.
func TestEveryGradientIsChecked(t *testing.T) {
	checked := map[string]bool{}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where",
		"Neg", "Abs", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Sin", "Cos", "Tan", "Softplus", "Softsign",
		"Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Gelu",
		"Softmax", "LogSoftmax", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceL2",
		"ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp", "Reshape", "Flatten", "Transpose", "Concat", "Split",
		"Slice", "Squeeze", "Unsqueeze", "Gather", "GatherElements", "Expand", "Tile", "Identity", "Dropout", "Cast",
		"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "DepthToSpace", "SpaceToDepth", "ReverseSequence",
		"Compress", "CumSum"} {
		checked[op] = true
	}
	// Operators whose gradient is trivially shared with a checked one
	// (same Backward function) or checked in another file.
	shared := map[string]string{"CastLike": "Cast", "GatherND": "Gather (same index-plan scatter)"}
	for _, name := range Registered() {
		// name is "domain:Type[min-max]"; other domains are not ours.
		if !strings.HasPrefix(name, "ai.onnx:") {
			continue
		}
		typ := name[len("ai.onnx:"):]
		typ = typ[:indexByte(typ, '[')]
		o := lookupAny(typ)
		if o == nil || o.Backward == nil || checked[typ] || shared[typ] != "" || !ownedByThisHalf(typ) {
			continue
		}
		t.Errorf("%s has a Backward but no gradient check", typ)
	}
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return len(s)
}

// lookupAny returns any registered implementation of a default-domain op.
func lookupAny(typ string) *Op {
	for _, o := range registry[opKey{"", typ}] {
		return o
	}
	return nil
}

// ownedByThisHalf excludes the heavy operators, whose gradients are
// checked in their own test files.
func ownedByThisHalf(typ string) bool {
	switch typ {
	case "Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
		"BatchNormalization", "LayerNormalization", "InstanceNormalization", "Pad", "Resize", "Upsample", "LRN",
		"MeanVarianceNormalization", "GroupNormalization", "LpPool", "GlobalLpPool":
		return false
	}
	return true
}
