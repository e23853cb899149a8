package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// waves returns n deterministic samples of shape dims (with the leading
// sample axis of an .npz: [n, dims...]), smooth enough for a CNN to see
// structure, in [-1.5, 1.5].
func waves(n int, dims ...int64) *graph.Tensor {
	size := int64(1)
	for _, d := range dims {
		size *= d
	}
	x := make([]float32, int64(n)*size)
	for i := range x {
		x[i] = float32(1.5 * math.Sin(float64(i)*0.37+float64(i/int(size))*1.3) * math.Cos(float64(i%7)*0.5))
	}
	return graph.MustTensor(graph.Float, append([]int64{int64(n)}, dims...), x)
}

// ramp returns n float32 values from lo by step, for weights.
func ramp(n int, lo, step float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = lo + step*float32((i*7)%n)
	}
	return out
}

// flattenByShapeModel is x [1, 3, 8, 8] -> Conv 3x3 (4 channels, pad 1)
// -> Relu -> Reshape to [N, -1], with N computed from the activation as
// PyTorch's exporter writes x.view(x.size(0), -1) (Shape -> Gather ->
// Unsqueeze -> Concat) -> Gemm to 10 logits: a shape path on the
// trainable path.
func flattenByShapeModel() *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 3, 8, 8)
	w := b.Floats("conv_w", []int64{4, 3, 3, 3}, ramp(108, -0.3, 0.0056)...)
	cb := b.Floats("conv_b", []int64{4}, 0.05, -0.02, 0.01, 0.03)
	y := b.Op("Relu", []*graph.Value{b.Op("Conv", []*graph.Value{x, w, cb}, map[string]any{"pads": []int64{1, 1, 1, 1}})}, nil)
	graph.SetType(y, graph.Float, 1, 4, 8, 8)
	shape := graph.SetType(b.Op("Shape", []*graph.Value{y}, nil), graph.Int64, 4)
	n := graph.SetType(b.Op("Gather", []*graph.Value{shape, b.Int64s("zero", nil, 0)}, map[string]any{"axis": int64(0)}), graph.Int64)
	n1 := graph.SetType(b.Op("Unsqueeze", []*graph.Value{n, b.Int64s("axes", []int64{1}, 0)}, nil), graph.Int64, 1)
	target := graph.SetType(b.Op("Concat", []*graph.Value{n1, b.Int64s("minus_one", []int64{1}, -1)}, map[string]any{"axis": int64(0)}), graph.Int64, 2)
	flat := graph.SetType(b.Op("Reshape", []*graph.Value{y, target}, nil), graph.Float, 1, 256)
	fw := b.Floats("fc_w", []int64{10, 256}, ramp(2560, -0.05, 0.00004)...)
	fb := b.Floats("fc_b", []int64{10}, ramp(10, -0.1, 0.02)...)
	out := graph.SetType(b.Op("Gemm", []*graph.Value{flat, fw, fb}, map[string]any{"transB": int64(1)}), graph.Float, 1, 10)
	b.Output(out)
	return b.Model()
}

// mishModel is x [1, 3, 8, 8] -> Conv (conv1_w, conv1_b) -> Mish ->
// Conv (conv2_w, conv2_b) -> Flatten -> Gemm: Mish (YOLOv4's activation)
// has no gradient in onnxq's lowering, so conv1's weight and bias cannot
// be trained; the layers after it can.
func mishModel() *graph.Model {
	b := graph.NewBuilder(18)
	x := b.Input("x", graph.Float, 1, 3, 8, 8)
	w1 := b.Floats("conv1_w", []int64{4, 3, 3, 3}, ramp(108, -0.3, 0.0056)...)
	b1 := b.Floats("conv1_b", []int64{4}, 0.05, -0.02, 0.01, 0.03)
	y := graph.SetType(b.Op("Conv", []*graph.Value{x, w1, b1}, map[string]any{"pads": []int64{1, 1, 1, 1}}), graph.Float, 1, 4, 8, 8)
	y = graph.SetType(b.Op("Mish", []*graph.Value{y}, nil), graph.Float, 1, 4, 8, 8)
	w2 := b.Floats("conv2_w", []int64{4, 4, 3, 3}, ramp(144, -0.2, 0.0028)...)
	b2 := b.Floats("conv2_b", []int64{4}, 0.02, 0.01, -0.03, 0.04)
	y = graph.SetType(b.Op("Conv", []*graph.Value{y, w2, b2}, map[string]any{"pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 2}}), graph.Float, 1, 4, 4, 4)
	flat := graph.SetType(b.Op("Flatten", []*graph.Value{y}, nil), graph.Float, 1, 64)
	fw := b.Floats("fc_w", []int64{10, 64}, ramp(640, -0.1, 0.0003)...)
	fb := b.Floats("fc_b", []int64{10}, ramp(10, -0.1, 0.02)...)
	b.Output(graph.SetType(b.Op("Gemm", []*graph.Value{flat, fw, fb}, map[string]any{"transB": int64(1)}), graph.Float, 1, 10))
	return b.Model()
}

// trainingJSON is the part of qat's result the tests read.
type trainingJSON struct {
	Steps  int `json:"steps"`
	Frozen []struct {
		Value  string `json:"value"`
		Node   string `json:"node"`
		Op     string `json:"op"`
		Reason string `json:"reason"`
	} `json:"frozen"`
}

// closeToFloat runs the float model and path in ONNX Runtime 1.30 (at its
// default optimization level and with optimizations disabled) on the
// samples and fails unless every output element of path is within tol
// of the float model's largest output magnitude.
func closeToFloat(t *testing.T, float *graph.Model, path string, samples *graph.Tensor, tol float64) {
	t.Helper()
	if err := ort.Init(testdata.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	floatPath := filepath.Join(t.TempDir(), "float.onnx")
	if err := float.Save(floatPath); err != nil {
		t.Fatal(err)
	}
	ref, err := ort.NewSession(floatPath, ort.Options{OptLevel: ort.OptDisabled})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	name := float.Graph.Outputs[0].Name
	for _, level := range []ort.OptLevel{ort.OptAll, ort.OptDisabled} {
		s, err := ort.NewSession(path, ort.Options{OptLevel: level})
		if err != nil {
			t.Fatalf("%s in ONNX Runtime (%s): %v", path, level, err)
		}
		var worst, peak float64
		n := samples.Shape[0]
		size := samples.Len() / int(n)
		all := samples.Data.([]float32)
		for i := range int(n) {
			in := map[string]*graph.Tensor{"x": graph.MustTensor(graph.Float, samples.Shape[1:], all[i*size:(i+1)*size])}
			want, err := ref.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(in)
			if err != nil {
				t.Fatalf("%s in ONNX Runtime (%s): %v", path, level, err)
			}
			w, g := want[name].Data.([]float32), got[name].Data.([]float32)
			for j := range w {
				peak = max(peak, math.Abs(float64(w[j])))
				worst = max(worst, math.Abs(float64(g[j]-w[j])))
			}
		}
		s.Close()
		t.Logf("%s, ONNX Runtime %s: largest error %.4g of the float output's peak %.4g", filepath.Base(path), level, worst, peak)
		if worst > tol*peak {
			t.Errorf("%s, ONNX Runtime %s: largest error %.4g is more than %.0f%% of the float output's peak %.4g", path, level, worst, 100*tol, peak)
		}
	}
}

// quantizeAndFinetune runs 'onnxq quantize' and a label-free 'onnxq
// finetune' on model with synthetic calibration data, checks both outputs
// with the ONNX checker (and ONNX Runtime 1.21 in its environment) and in
// ONNX Runtime 1.30 against the float model, and returns the training
// results of both runs.
func quantizeAndFinetune(t *testing.T, model *graph.Model) (fromQuantize, fromFinetune trainingJSON) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.onnx")
	if err := model.Save(in); err != nil {
		t.Fatal(err)
	}
	data := writeNpz(t, filepath.Join(dir, "calib.npz"), map[string]*graph.Tensor{"x": waves(20, 1, 3, 8, 8)})
	out := filepath.Join(dir, "model.q.onnx")
	r := runInProcess("--quiet", "quantize", "--json", in, "--calib", data, "-o", out, "--finetune-steps", "4")
	if r.code != exitOK {
		t.Fatalf("quantize: exit %d: %s", r.code, r.stderr)
	}
	var q struct {
		Stages struct {
			Finetune *struct {
				Training trainingJSON `json:"training"`
			} `json:"finetune"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		t.Fatalf("quantize --json: %v\n%s", err, r.stdout)
	}
	if q.Stages.Finetune == nil || q.Stages.Finetune.Training.Steps != 4 {
		t.Fatalf("quantize did not fine-tune 4 steps: %s", r.stdout)
	}
	fromQuantize = q.Stages.Finetune.Training

	tuned := filepath.Join(dir, "model.qat.onnx")
	r = runInProcess("--quiet", "finetune", "--json", in, "--data", data, "-o", tuned, "--batch-size", "4", "--seed", "2")
	if r.code != exitOK {
		t.Fatalf("finetune: exit %d: %s", r.code, r.stderr)
	}
	var f struct {
		Training trainingJSON `json:"training"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
		t.Fatalf("finetune --json: %v\n%s", err, r.stdout)
	}
	fromFinetune = f.Training
	testdata.CheckONNX(t, true, out, tuned)
	samples := waves(8, 1, 3, 8, 8)
	// 8-bit activations and weights through three quantized layers: each
	// layer adds up to about half a step (1/255 of its range) of rounding
	// error per element, summed over its fan-in; 5% of the output's peak
	// is many steps, while a wrong graph (a misread shape, a lost layer)
	// is off by the output's whole size.
	closeToFloat(t, model, out, samples, 0.05)
	closeToFloat(t, model, tuned, samples, 0.05)
	return fromQuantize, fromFinetune
}

// TestQuantizeShapeArithmetic: a model that flattens with a shape
// computed from its activation (Conv -> Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape -> Gemm) is quantized, fine-tuned and written by
// 'onnxq quantize' and 'onnxq finetune': the shape path is evaluated,
// not differentiated, and nothing is frozen.
func TestQuantizeShapeArithmetic(t *testing.T) {
	q, f := quantizeAndFinetune(t, flattenByShapeModel())
	if len(q.Frozen) != 0 || len(f.Frozen) != 0 {
		t.Errorf("frozen parameters in a model whose every op has a gradient: %+v, %+v", q.Frozen, f.Frozen)
	}
}

// TestQuantizeFreezesWhatHasNoGradient: in a model with Mish (no gradient
// in the lowering) after its first Conv, fine-tuning freezes that Conv's
// weight and bias, says so, and trains the rest.
func TestQuantizeFreezesWhatHasNoGradient(t *testing.T) {
	q, f := quantizeAndFinetune(t, mishModel())
	for _, tr := range []trainingJSON{q, f} {
		var got []string
		for _, fr := range tr.Frozen {
			got = append(got, fr.Value)
			if fr.Op != "Mish" || !strings.Contains(fr.Reason, "Mish has no gradient") {
				t.Errorf("frozen %+v: want the reason Mish has no gradient", fr)
			}
		}
		if strings.Join(got, ",") != "conv1_b_dequantized,conv1_w" {
			t.Errorf("frozen %v, want conv1_b_dequantized (the PTQ model's float bias) and conv1_w", got)
		}
	}
}

// mishHeadModel is x -> Conv -> Flatten -> Gemm -> Mish (the output):
// every weight reaches the output through Mish, which has no gradient in
// the lowering, so fine-tuning has nothing it can train.
func mishHeadModel() *graph.Model {
	b := graph.NewBuilder(18)
	x := b.Input("x", graph.Float, 1, 3, 8, 8)
	w := b.Floats("conv_w", []int64{4, 3, 3, 3}, ramp(108, -0.3, 0.0056)...)
	y := graph.SetType(b.Op("Conv", []*graph.Value{x, w}, map[string]any{"pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 2}}), graph.Float, 1, 4, 4, 4)
	flat := graph.SetType(b.Op("Flatten", []*graph.Value{y}, nil), graph.Float, 1, 64)
	fw := b.Floats("fc_w", []int64{10, 64}, ramp(640, -0.1, 0.0003)...)
	z := graph.SetType(b.Op("Gemm", []*graph.Value{flat, fw}, map[string]any{"transB": int64(1)}), graph.Float, 1, 10)
	b.Output(graph.SetType(b.Op("Mish", []*graph.Value{z}, nil), graph.Float, 1, 10))
	return b.Model()
}

// TestQuantizeWithNothingToTrain: when no weight can be trained (each
// reaches the output through an op without a gradient), 'onnxq quantize'
// writes the PTQ model and says why fine-tuning was skipped, naming the
// frozen weights; 'onnxq finetune' fails with one line that says so.
func TestQuantizeWithNothingToTrain(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.onnx")
	if err := mishHeadModel().Save(in); err != nil {
		t.Fatal(err)
	}
	data := writeNpz(t, filepath.Join(dir, "calib.npz"), map[string]*graph.Tensor{"x": waves(10, 1, 3, 8, 8)})
	out := filepath.Join(dir, "model.q.onnx")
	q := runQuantize(t, in, "--calib", data, "-o", out, "--finetune-steps", "2")
	if q.Kept != "ptq" || !strings.Contains(q.Why, "fine-tuning skipped") || !strings.Contains(q.Why, `fc_w (node "Mish_`) {
		t.Errorf("kept %s: %s", q.Kept, q.Why)
	}
	testdata.Written(t, out)
	testdata.CheckONNX(t, true, out)
	r := runInProcess("finetune", in, "--data", data, "-o", filepath.Join(dir, "model.qat.onnx"))
	if r.code != exitUser {
		t.Fatalf("finetune: exit %d: %s", r.code, r.stderr)
	}
	oneErrorLine(t, r, in, "nothing to fine-tune", "Mish has no gradient")
}

// TestQuantizeModelWithoutOutputs: a model that declares no graph outputs
// is refused with one line naming it, before any work.
func TestQuantizeModelWithoutOutputs(t *testing.T) {
	dir := t.TempDir()
	m := flattenByShapeModel()
	m.Graph.Outputs = nil
	in := filepath.Join(dir, "model.onnx")
	if err := m.Save(in); err != nil {
		t.Fatal(err)
	}
	data := writeNpz(t, filepath.Join(dir, "calib.npz"), map[string]*graph.Tensor{"x": waves(4, 1, 3, 8, 8)})
	for _, args := range [][]string{
		{"quantize", in, "--calib", data, "-o", filepath.Join(dir, "q.onnx")},
		{"quantize", in, "--calib", data, "-o", filepath.Join(dir, "q.onnx"), "--no-finetune"},
	} {
		r := runInProcess(args...)
		if r.code != exitUser {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		oneErrorLine(t, r, in, "declares no graph outputs")
		if left := leftovers(t, dir, "model.onnx", "calib.npz"); len(left) > 0 {
			t.Errorf("the failed run left %v", left)
		}
	}
}
