package qat

import (
	"slices"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// twoHeads builds x -> Conv(w) -> first output and x -> Conv(w2) ->
// second output, with Q/DQ on every input and weight when qdq is set.
func twoHeads(qdq bool) *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 1, 5, 5)
	pair := func(v *graph.Value, scale float32, zp *graph.Tensor) *graph.Value {
		if !qdq {
			return v
		}
		s := b.Const(v.Name+"_scale", graph.Scalar(scale))
		z := b.Const(v.Name+"_zp", zp)
		return b.Op("DequantizeLinear", []*graph.Value{b.Op("QuantizeLinear", []*graph.Value{v, s, z}, nil), s, z}, nil)
	}
	i8 := graph.MustTensor(graph.Int8, nil, []int8{0})
	xq := pair(x, 1.0/64, graph.MustTensor(graph.Uint8, nil, []uint8{128}))
	w := b.Floats("w", []int64{1, 1, 3, 3}, 0.16, -0.28, 0.36, 0.47, 0.62, -0.13, 0.14, 0.31, -0.29)
	w2 := b.Floats("w2", []int64{1, 1, 3, 3}, -0.41, 0.22, 0.05, 0.33, -0.52, 0.18, 0.27, -0.09, 0.44)
	b.Output(b.Op("Conv", []*graph.Value{xq, pair(w, 0.7/127, i8)}, map[string]any{"pads": []int64{1, 1, 1, 1}}))
	b.Output(b.Op("Conv", []*graph.Value{xq, pair(w2, 0.6/127, i8)}, map[string]any{"pads": []int64{1, 1, 1, 1}}))
	return b.Model()
}

// TestTrainLeavesValuesTheLossDoesNotReadAlone trains the first output of
// a model with two heads: the second head's weight does not feed the loss,
// so it gets no gradient and stays exactly as it was (lowering it as a
// trainable value made Gorgonia refuse the graph: "Non Differentiable
// WRTs"), while the first head's weight is trained.
func TestTrainLeavesValuesTheLossDoesNotReadAlone(t *testing.T) {
	teacher, err := engine.Compile(twoHeads(false))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := ToTraining(twoHeads(true))
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]float32{"w": initializer(t, tm.Model, "w"), "w2": initializer(t, tm.Model, "w2")}
	res, err := Train(tm, Data{Inputs: sizedImages{{5, 5}, {5, 5}, {5, 5}}, Teacher: teacher}, Config{Epochs: 2, BatchSize: 1, LR: 1e-2, Loss: DistillMSE, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 6 {
		t.Fatalf("%d steps, want 6", res.Steps)
	}
	if !slices.Equal(initializer(t, tm.Model, "w2"), before["w2"]) {
		t.Errorf("the second head's weight changed: %v -> %v", before["w2"], initializer(t, tm.Model, "w2"))
	}
	if slices.Equal(initializer(t, tm.Model, "w"), before["w"]) {
		t.Errorf("the trained head's weight did not change")
	}
}
