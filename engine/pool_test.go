package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

type poolCase struct {
	x     []int64
	attrs map[string]any
}

var poolCases = []poolCase{
	{[]int64{2, 2, 6, 7}, map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}},
	{[]int64{1, 2, 5, 5}, map[string]any{"kernel_shape": []int64{2, 3}, "strides": []int64{2, 2}, "ceil_mode": 1}},
	{[]int64{1, 1, 7, 6}, map[string]any{"kernel_shape": []int64{2, 2}, "dilations": []int64{2, 2}, "pads": []int64{1, 0, 0, 1}}},
	{[]int64{1, 2, 5, 6}, map[string]any{"kernel_shape": []int64{3, 2}, "auto_pad": "SAME_UPPER", "strides": []int64{2, 2}}},
	{[]int64{2, 3, 9}, map[string]any{"kernel_shape": []int64{3}, "strides": []int64{2}, "pads": []int64{1, 1}}},
	{[]int64{1, 2, 4, 3, 4}, map[string]any{"kernel_shape": []int64{2, 2, 2}, "strides": []int64{2, 1, 2}}},
}

func TestMaxPoolGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for i, c := range poolCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			// Distinct inputs (gaps of 0.1) and a step of 0.01 keep every
			// window's maximum in place, where MaxPool is linear.
			checkGrad(t, gradCase{op: "MaxPool", opset: 12, attrs: c.attrs, inputs: []*graph.Tensor{distinctTensor(rng, c.x...)}, eps: 0.01})
		})
	}
}

func TestAveragePoolGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for i, c := range poolCases {
		for _, include := range []int{0, 1} {
			attrs := map[string]any{"count_include_pad": include}
			for k, v := range c.attrs {
				attrs[k] = v
			}
			t.Run(fmt.Sprint(i, include), func(t *testing.T) {
				checkGrad(t, gradCase{op: "AveragePool", opset: 19, attrs: attrs, inputs: []*graph.Tensor{randTensor(rng, c.x...)}, eps: 0.5})
			})
		}
	}
}

func TestLpPoolGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for i, c := range poolCases[:3] {
		for _, p := range []int{1, 2, 3} {
			attrs := map[string]any{"p": p}
			for k, v := range c.attrs {
				attrs[k] = v
			}
			t.Run(fmt.Sprint(i, p), func(t *testing.T) {
				// LpPool is smooth away from 0 (the distinct inputs keep
				// at least 0.05 from it); a step of 1e-3 has truncation
				// error ~1e-6·|f'''|, and float32 rounding of the loss
				// (~1e-6 relative) divided by 2e-3 stays below 1e-3.
				checkGrad(t, gradCase{op: "LpPool", opset: 18, attrs: attrs, inputs: []*graph.Tensor{distinctTensor(rng, c.x...)}, eps: 1e-3, rtol: 1e-2, atol: 2e-3})
			})
		}
	}
}

func TestGlobalPoolGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	for _, shape := range [][]int64{{2, 3, 4, 5}, {1, 2, 7}, {1, 2, 2, 3, 2}} {
		checkGrad(t, gradCase{op: "GlobalAveragePool", opset: 1, inputs: []*graph.Tensor{randTensor(rng, shape...)}, eps: 0.5})
		checkGrad(t, gradCase{op: "GlobalMaxPool", opset: 1, inputs: []*graph.Tensor{distinctTensor(rng, shape...)}, eps: 0.01})
	}
}

// TestMaxPoolIndicesStorageOrder checks the Indices output on a 1x2x2x3
// input whose maxima are known: row-major and column-major flat indices.
func TestMaxPoolIndicesStorageOrder(t *testing.T) {
	x := graph.MustTensor(graph.Float, []int64{1, 2, 2, 3}, []float32{
		1, 9, 2,
		3, 4, 5,
		7, 0, 1,
		9, 3, 8,
	})
	for order, want := range map[int][]int64{0: {1, 1, 9, 11}, 1: {2, 2, 7, 11}} {
		attrs := map[string]any{"kernel_shape": []int64{2, 2}, "storage_order": order}
		out := runOp(t, "MaxPool", 12, attrs, 2, []*graph.Tensor{x})
		if fmt.Sprint(out[1].Data) != fmt.Sprint(want) {
			t.Errorf("storage_order %d: indices %v, want %v", order, out[1].Data, want)
		}
	}
}
