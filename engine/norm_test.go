package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// The normalizations are smooth but not linear, so their checks use a
// step of 1e-2: the central difference's truncation error is about
// eps²/6·|f'''| ≈ 2e-5·|f'''|, and float32 rounding of a loss over at most
// a few hundred outputs (~1e-6) divided by 2·eps adds ~5e-5. rtol 1e-2 and
// atol 2e-3 leave room for |f'''| up to ~50 (rows of 3-5 elements make the
// statistics sensitive).

func positiveTensor(rng *rand.Rand, shape ...int64) *graph.Tensor {
	t := randTensor(rng, shape...)
	for i, v := range t.Data.([]float32) {
		t.Data.([]float32)[i] = 0.5 + v*v
	}
	return t
}

func TestLayerNormGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	cases := []struct {
		x, scale, bias []int64
		axis           int
	}{
		{[]int64{3, 5}, []int64{5}, []int64{5}, -1},
		{[]int64{2, 3, 4}, []int64{3, 4}, []int64{4}, 1},
		{[]int64{2, 3, 4}, []int64{1, 4}, nil, -2},
		{[]int64{2, 3, 2, 2}, []int64{2, 3, 2, 2}, []int64{2, 2}, 0},
	}
	for i, c := range cases {
		in := []*graph.Tensor{randTensor(rng, c.x...), randTensor(rng, c.scale...)}
		if c.bias != nil {
			in = append(in, randTensor(rng, c.bias...))
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkGrad(t, gradCase{op: "LayerNormalization", opset: 17, attrs: map[string]any{"axis": c.axis, "epsilon": float32(1e-3)}, inputs: in, outputs: 3, eps: 1e-2, rtol: 1e-2, atol: 2e-3})
		})
	}
}

func TestInstanceNormGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	in := []*graph.Tensor{randTensor(rng, 2, 3, 4, 3), randTensor(rng, 3), randTensor(rng, 3)}
	checkGrad(t, gradCase{op: "InstanceNormalization", opset: 6, attrs: map[string]any{"epsilon": float32(1e-3)}, inputs: in, eps: 1e-2, rtol: 1e-2, atol: 2e-3})
}

func TestBatchNormGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	bn := func(c int64, x ...int64) []*graph.Tensor {
		return []*graph.Tensor{randTensor(rng, x...), randTensor(rng, c), randTensor(rng, c), randTensor(rng, c), positiveTensor(rng, c)}
	}
	t.Run("inference", func(t *testing.T) {
		checkGrad(t, gradCase{op: "BatchNormalization", opset: 15, inputs: bn(3, 2, 3, 4, 5), eps: 1e-2, rtol: 1e-2, atol: 2e-3})
	})
	t.Run("inference_1d", func(t *testing.T) {
		checkGrad(t, gradCase{op: "BatchNormalization", opset: 9, inputs: bn(4, 3, 4), eps: 1e-2, rtol: 1e-2, atol: 2e-3})
	})
	t.Run("spatial0", func(t *testing.T) {
		in := []*graph.Tensor{randTensor(rng, 2, 2, 3), randTensor(rng, 2, 3), randTensor(rng, 2, 3), randTensor(rng, 2, 3), positiveTensor(rng, 2, 3)}
		checkGrad(t, gradCase{op: "BatchNormalization", opset: 7, attrs: map[string]any{"spatial": 0}, inputs: in, eps: 1e-2, rtol: 1e-2, atol: 2e-3})
	})
	t.Run("training", func(t *testing.T) {
		checkGrad(t, gradCase{op: "BatchNormalization", opset: 15, attrs: map[string]any{"training_mode": 1}, inputs: bn(3, 2, 3, 2, 3), wrt: []int{0, 1, 2}, eps: 1e-2, rtol: 1e-2, atol: 2e-3})
	})
}

// TestBatchNormChecks: training outputs before opset 14 are refused at
// Compile time, with a message.
func TestBatchNormChecks(t *testing.T) {
	n := newTestNode("BatchNormalization", nil, 5)
	if err := Lookup("", "BatchNormalization", 9).Check(n); err == nil {
		t.Error("opset 9 BatchNormalization with training outputs was accepted")
	}
	n = newTestNode("BatchNormalization", map[string]any{"training_mode": 1}, 3)
	if err := Lookup("", "BatchNormalization", 15).Check(n); err != nil {
		t.Errorf("opset 15 training mode: %v", err)
	}
}
