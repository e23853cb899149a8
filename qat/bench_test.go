package qat

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
)

// wideNet builds the benchmark's wider network in code: three 3x3 convs
// of 64 channels (padding 1) with Relu on a 3x32x32 input, a global
// average pool and a 64 -> 10 Gemm. Batch fixed to 1, like mnist-7.
func wideNet() *graph.Model {
	r := rand.New(rand.NewPCG(11, 12))
	b := graph.NewBuilder(13)
	x := b.Input("image", graph.Float, 1, 3, 32, 32)
	weights := func(name string, shape ...int64) *graph.Value {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		fanIn := float64(n / shape[0])
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64() / fanIn * 2)
		}
		return b.Floats(name, shape, data...)
	}
	h := x
	in := int64(3)
	for i := 0; i < 3; i++ {
		w := weights(fmt.Sprintf("conv%d_w", i), 64, in, 3, 3)
		bias := b.Floats(fmt.Sprintf("conv%d_b", i), []int64{64}, make([]float32, 64)...)
		h = b.Op("Relu", []*graph.Value{b.Op("Conv", []*graph.Value{h, w, bias}, map[string]any{"pads": []int64{1, 1, 1, 1}})}, nil)
		in = 64
	}
	h = b.Op("GlobalAveragePool", []*graph.Value{h}, nil)
	h = b.Op("Reshape", []*graph.Value{h, b.Int64s("flat", []int64{2}, 1, 64)}, nil)
	wf := weights("fc_w", 64, 10)
	out := b.Op("Gemm", []*graph.Value{h, wf, b.Floats("fc_b", []int64{10}, make([]float32, 10)...)}, nil)
	graph.SetType(out, graph.Float, 1, 10)
	b.Output(out)
	return b.Model()
}

// wideData returns n random images for wideNet with random labels.
func wideData(tb testing.TB, n int) (dataset.Source, []int64) {
	r := rand.New(rand.NewPCG(13, 14))
	data := make([]float32, n*3*32*32)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(r.IntN(10))
	}
	src, err := dataset.NewArraySource(map[string]*graph.Tensor{"image": graph.MustTensor(graph.Float, []int64{int64(n), 1, 3, 32, 32}, data)})
	if err != nil {
		tb.Fatal(err)
	}
	return src, labels
}

// floatTraining makes the float twin of a QDQ model's training graph:
// the same graph (the PTQ-normalized model, Gemm fused, biases in Conv)
// with every FakeQuant bypassed, the same weights and biases trainable. A
// step on it is the float baseline of a QAT step on the same engine.
func floatTraining(tb testing.TB, qdq *graph.Model) *TrainingModel {
	tm, err := ToTraining(qdq)
	if err != nil {
		tb.Fatal(err)
	}
	dead := map[*graph.Node]bool{}
	for _, fq := range tm.FakeQuants {
		qdq.Graph.ReplaceUses(fq.Node.Outputs[0], fq.Input, true)
		dead[fq.Node] = true
		if fq.Role == Bias {
			dead[fq.Scale.Producer] = true
		}
	}
	qdq.Graph.RemoveNodes(dead)
	tm.FakeQuants = nil
	pruneUnused(qdq)
	return tm
}

// benchSteps times optimizer steps of Train (the lowering and the first
// step are excluded) and reports steps and samples per second.
func benchSteps(b *testing.B, tm *TrainingModel, data Data, batch int, accumulate bool) {
	cfg := Config{Epochs: 1 << 20, MaxSteps: b.N + 1, BatchSize: batch, LR: 1e-5, Temperature: 1, Accumulate: accumulate,
		Progress: func(p Progress) {
			if p.Step == 1 {
				b.ResetTimer()
			}
		}}
	if _, err := Train(tm, data, cfg); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "steps/s")
	b.ReportMetric(float64(b.N*batch)/sec, "samples/s")
}

// BenchmarkTrainStep: one optimizer step (batch 32, Adam, cross-entropy)
// of mnist-7 and of wideNet, QAT (the 8-bit PTQ model with fake
// quantization) against float (the same graph without it), batches run at once in the
// re-batched copy and accumulated sample by sample. scripts/bench-qat.sh
// runs it.
func BenchmarkTrainStep(b *testing.B) {
	const batch = 32
	mnistData := func(b *testing.B) Data {
		return Data{Inputs: mnistImages(b, "train-images-idx3-ubyte.gz", 0, 2048), Labels: mnistLabels(b, "train-labels-idx1-ubyte.gz", 0, 2048)}
	}
	wide := func(b *testing.B, quantized bool) (*TrainingModel, Data) {
		src, labels := wideData(b, 512)
		m := wideNet()
		calib, err := dataset.Slice(src, 0, 16)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ptq.Quantize(m, calib, ptq.Defaults()); err != nil {
			b.Fatal(err)
		}
		if !quantized {
			return floatTraining(b, m), Data{Inputs: src, Labels: labels}
		}
		tm, err := ToTraining(m)
		if err != nil {
			b.Fatal(err)
		}
		return tm, Data{Inputs: src, Labels: labels}
	}
	for _, acc := range []bool{false, true} {
		mode := "batched"
		if acc {
			mode = "accumulated"
		}
		b.Run("mnist7/qat/"+mode, func(b *testing.B) {
			tm, err := ToTraining(mnistQDQ(b, 8, 8, 50))
			if err != nil {
				b.Fatal(err)
			}
			benchSteps(b, tm, mnistData(b), batch, acc)
		})
		b.Run("mnist7/float/"+mode, func(b *testing.B) {
			benchSteps(b, floatTraining(b, mnistQDQ(b, 8, 8, 50)), mnistData(b), batch, acc)
		})
		b.Run("wide/qat/"+mode, func(b *testing.B) {
			tm, data := wide(b, true)
			benchSteps(b, tm, data, batch, acc)
		})
		b.Run("wide/float/"+mode, func(b *testing.B) {
			tm, data := wide(b, false)
			benchSteps(b, tm, data, batch, acc)
		})
	}
}
