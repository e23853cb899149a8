package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// TestQuantizeLinearMatchesQuantPackage checks that the engine's
// QuantizeLinear kernel (whichever path it takes) and quant.Quantize, the
// scalar form PTQ and QAT compute with, give the same integers, NaN and
// infinities included: a model's emulated quantization and its executed
// quantization must not differ.
func TestQuantizeLinearMatchesQuantPackage(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, od := range []graph.DType{graph.Uint8, graph.Int8, graph.Uint16, graph.Int16, graph.Uint4, graph.Int4} {
		lo, hi := od.IntRange()
		x := make([]float32, 4000)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * float64(hi-lo))
		}
		x[0], x[1], x[2], x[3] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 2.5
		scale := float32(0.37)
		zpv := lo + (hi-lo)/3
		zp, err := castInts([]int64{zpv}, []int64{}, od)
		if err != nil {
			t.Fatal(err)
		}
		ctx := &Context{Node: newTestNode("QuantizeLinear", nil, 1), Opset: 21}
		out, err := quantizeKernel(ctx, []*graph.Tensor{f32([]int64{int64(len(x))}, x...), graph.Scalar(scale), zp})
		if err != nil {
			t.Fatal(err)
		}
		got, err := out[0].Int64s()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			if want := quant.Quantize(v, scale, zpv, od); got[i] != want {
				t.Fatalf("%s: x=%g: engine %d, quant.Quantize %d", od, v, got[i], want)
			}
		}
	}
}
