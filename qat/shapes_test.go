package qat

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// convNet builds x [1, 1, H, W] (H and W free) -> Conv 3x3 (pad 1) ->
// output, with Q/DQ on the input and the weight when qdq is set: a fully
// convolutional model that runs on images of any size, like PP-OCR det.
// Every weight is moved by off, so that a student has something to learn.
func convNet(qdq bool, off float32) *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 1, -1, -1)
	ws := []float32{0.11, -0.23, 0.31, 0.42, 0.57, -0.18, 0.09, 0.26, -0.34}
	for i := range ws {
		ws[i] += off
	}
	w := b.Floats("w", []int64{1, 1, 3, 3}, ws...)
	in, wt := x, w
	if qdq {
		pair := func(v *graph.Value, scale float32, zp *graph.Tensor) *graph.Value {
			s := b.Const(v.Name+"_scale", graph.Scalar(scale))
			z := b.Const(v.Name+"_zp", zp)
			return b.Op("DequantizeLinear", []*graph.Value{b.Op("QuantizeLinear", []*graph.Value{v, s, z}, nil), s, z}, nil)
		}
		in = pair(x, 1.0/64, graph.MustTensor(graph.Uint8, nil, []uint8{128}))
		wt = pair(w, 0.7/127, graph.MustTensor(graph.Int8, nil, []int8{0}))
	}
	b.Output(b.Op("Conv", []*graph.Value{in, wt}, map[string]any{"pads": []int64{1, 1, 1, 1}}))
	return b.Model()
}

// sizedImages is a source of images of several sizes.
type sizedImages [][2]int64

func (s sizedImages) Len() int { return len(s) }

func (s sizedImages) Sample(i int) (map[string]*graph.Tensor, error) {
	h, w := s[i][0], s[i][1]
	x := make([]float32, h*w)
	for j := range x {
		x[j] = float32(math.Sin(float64(j*(i+3)))) * 1.5
	}
	return map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, []int64{1, 1, h, w}, x)}, nil
}

// TestTrainOnImagesOfSeveralSizes distils a fully convolutional QDQ model
// from its float twin on images of three sizes, one sample per step: the
// lowering has the shapes of its sample built in, so a sample of another
// size must get a lowering of its own, with the trained values carried
// over. The student starts with every weight 0.05 off the teacher's: the
// error against the teacher must fall.
func TestTrainOnImagesOfSeveralSizes(t *testing.T) {
	teacher, err := engine.Compile(convNet(false, 0))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := ToTraining(convNet(true, 0.05))
	if err != nil {
		t.Fatal(err)
	}
	images := sizedImages{{4, 4}, {6, 5}, {8, 8}}
	data := Data{Inputs: images, Teacher: teacher}
	before := distillError(t, tm.Model, teacher, images)
	res, err := Train(tm, data, Config{Epochs: 8, BatchSize: 1, LR: 2e-3, Loss: DistillMSE, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 24 || res.Lowerings < 3 {
		t.Fatalf("%d steps, %d lowerings; want 24 steps and a lowering per size at least", res.Steps, res.Lowerings)
	}
	after := distillError(t, tm.Model, teacher, images)
	t.Logf("mean squared error against the teacher: %.3g before, %.3g after %d steps (%d lowerings)", before, after, res.Steps, res.Lowerings)
	if !(after < before) {
		t.Errorf("mean squared error against the teacher %g after training, %g before: it did not fall", after, before)
	}
}

// distillError is the mean squared difference of m's output from the
// teacher's over every sample, run with the engine.
func distillError(tb testing.TB, m *graph.Model, teacher *engine.Program, src sizedImages) float64 {
	tb.Helper()
	prog, err := engine.Compile(m)
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	var n int
	for i := range src.Len() {
		s, _ := src.Sample(i)
		got, err := prog.Run(s, nil)
		if err != nil {
			tb.Fatal(err)
		}
		want, err := teacher.Run(s, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if len(want) != 1 {
			tb.Fatalf("the teacher has %d outputs, want 1", len(want))
		}
		var w []float32
		for _, t := range want {
			w, _ = t.Float32s()
		}
		g, _ := got[m.Graph.Outputs[0].Name].Float32s()
		if len(g) != len(w) {
			tb.Fatalf("sample %d: %d outputs against the teacher's %d", i, len(g), len(w))
		}
		for j := range w {
			d := float64(g[j] - w[j])
			sum += d * d
			n++
		}
	}
	return sum / float64(n)
}
