package qat

import (
	"math"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestRebatchMatchesAccumulation distils mnist-7 (4-bit PTQ, learned
// scales) for 4 steps of 16 images twice: batches at once (the re-batched
// copy of the training model and of the teacher) and sample by sample. The
// gradients are the same up to float32 summation order, so after 4 Adam
// steps of lr 1e-4 the weights agree to 1e-6 (their size is ~0.1-1).
func TestRebatchMatchesAccumulation(t *testing.T) {
	data := Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 5000, 64), Teacher: mnistTeacher(t)}
	var models []map[string]*graph.Tensor
	for _, acc := range []bool{false, true} {
		tm, err := ToTraining(mnistQDQ(t, 4, 4, 50))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Train(tm, data, Config{BatchSize: 16, LR: 1e-4, Loss: DistillKL, LearnScales: true, Accumulate: acc})
		if err != nil {
			t.Fatal(err)
		}
		if res.Rebatched == acc {
			t.Fatalf("Accumulate %v: rebatched %v (%s)", acc, res.Rebatched, res.Accumulated)
		}
		models = append(models, initializers(tm.Model))
	}
	for name, a := range models[0] {
		f, ok := a.Data.([]float32)
		if !ok {
			continue
		}
		g := models[1][name].Data.([]float32)
		for i := range f {
			if math.Abs(float64(f[i]-g[i])) > 1e-6*math.Max(1, math.Abs(float64(g[i]))) {
				t.Fatalf("%s[%d]: %g at once, %g accumulated", name, i, f[i], g[i])
			}
		}
	}
}

// TestRebatchRefused builds the hand-made network with an output that
// mixes the samples of a batch (z + sum of z over the batch axis): its
// re-batched copy does not compute row by row what the model computes, so
// training notices, says why, and accumulates sample by sample, with the
// same result as asking for accumulation.
func TestRebatchRefused(t *testing.T) {
	mixing := func() *graph.Model {
		m := newTiny().model()
		g := m.Graph
		z := g.Outputs[0]
		b := graph.NewNamer(g)
		axes := g.AddInitializer(b, "axes", graph.MustTensor(graph.Int64, []int64{1}, []int64{0}))
		sum := g.NewNode(b, "ReduceSum", "", []*graph.Value{z, axes}, []string{"batch_sum"}, map[string]any{"keepdims": int64(1)})
		add := g.NewNode(b, "Add", "", []*graph.Value{z, sum.Outputs[0]}, []string{"mixed"}, nil)
		graph.SetType(add.Outputs[0], graph.Float, 1, 2)
		g.Outputs[0] = add.Outputs[0]
		return m
	}
	xs := [][4]float64{{1.013, -2.121, 0.537, 3.011}, {-0.788, 1.561, 2.438, -1.164}, {2.263, 0.412, -1.337, 0.861}}
	src, lab := tinyData(xs, []int{1, 0, 1})
	var results []map[string]*graph.Tensor
	for _, acc := range []bool{false, true} {
		tm, err := ToTraining(mixing())
		if err != nil {
			t.Fatal(err)
		}
		res, err := Train(tm, Data{Inputs: src, Labels: lab}, Config{Optimizer: SGD, LR: 0.1, Temperature: 1, BatchSize: 3, Epochs: 2, Accumulate: acc})
		if err != nil {
			t.Fatal(err)
		}
		if res.Rebatched {
			t.Fatalf("a model that mixes its batch was re-batched")
		}
		if !acc && !strings.Contains(res.Accumulated, "differs from single runs") {
			t.Errorf("the reason for accumulating is %q", res.Accumulated)
		}
		results = append(results, initializers(tm.Model))
	}
	if err := sameBits(results[0], results[1]); err != nil {
		t.Errorf("the fallback differs from asking for accumulation: %v", err)
	}
}
