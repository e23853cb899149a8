package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// quantizeJSON is the part of quantize's JSON the tests read.
type quantizeJSON struct {
	Output string `json:"output"`
	Kept   string `json:"kept"`
	Why    string `json:"why"`
	Stages struct {
		PTQ struct {
			Samples   int `json:"calibration_samples"`
			Quantized int `json:"nodes_quantized"`
		} `json:"ptq"`
		Finetune *struct {
			Data      string `json:"data"`
			Samples   int    `json:"samples"`
			Loss      string `json:"loss"`
			BatchSize int    `json:"batch_size"`
			Training  struct {
				Steps int `json:"steps"`
			} `json:"training"`
		} `json:"finetune"`
		Export struct {
			Target string `json:"target"`
			Bytes  int64  `json:"output_bytes"`
		} `json:"export"`
		Measure struct {
			Data      string              `json:"data"`
			Samples   int                 `json:"samples"`
			Criterion string              `json:"criterion"`
			Float     quantizeFigureJSON  `json:"float"`
			PTQ       quantizeFigureJSON  `json:"ptq"`
			Finetuned *quantizeFigureJSON `json:"finetuned"`
		} `json:"measure"`
	} `json:"stages"`
	PTQReport *struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	} `json:"ptq_report"`
}

type quantizeFigureJSON struct {
	Top1     *float64 `json:"top1"`
	MeanSQNR *float64 `json:"mean_sqnr_db"`
}

func runQuantize(t *testing.T, args ...string) quantizeJSON {
	t.Helper()
	r := runInProcess(append([]string{"--quiet", "quantize", "--json"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("quantize %v: exit %d: %s", args, r.code, r.stderr)
	}
	var q quantizeJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		t.Fatalf("quantize --json: %v\n%s", err, r.stdout)
	}
	return q
}

// mnistCalib are the calibration flags of the mnist-7 tests: the first n
// training images.
func mnistCalib(t *testing.T, n int) []string {
	return []string{"--calib", testdata.Path(t, "mnist/train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", strconv.Itoa(n)}
}

// TestQuantizeMNIST runs the whole pipeline on mnist-7 (200 calibration
// images, 30 fine-tuning steps at lr 1e-4, measured on 1000 test images) and checks
// the written model: a QDQ model with int8 weights behind
// DequantizeLinear and int32 biases, within 0.5 points of the float
// model's top-1 in onnxq's engine, scoring exactly what the report says
// the kept candidate scored (what is measured is what is written), and
// scoring in ONNX Runtime 1.30 what onnxq's engine does, within a sample.
// The JSON and the --report file hold every stage; the input is unchanged.
func TestQuantizeMNIST(t *testing.T) {
	dir := t.TempDir()
	model := copyModel(t, "mnist-7", dir)
	before := fileHash(t, model)
	images := testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz")
	labelsFile := testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz")
	out, rep := filepath.Join(dir, "mnist.q.onnx"), filepath.Join(dir, "report.json")
	q := runQuantize(t, slices.Concat(mnistCalib(t, 200), []string{model, "-o", out, "--report", rep, "--finetune-steps", "30", "--finetune-lr", "1e-4",
		"--eval", images, "--eval-labels", labelsFile, "--eval-limit", "1000"})...)
	testdata.Written(t, out)
	if fileHash(t, model) != before {
		t.Fatal("quantize changed its input model")
	}

	s := q.Stages
	if s.PTQ.Samples != 200 || s.PTQ.Quantized == 0 {
		t.Errorf("ptq stage: %+v", s.PTQ)
	}
	if s.Finetune == nil || s.Finetune.Training.Steps != 30 || s.Finetune.Loss != "mse" || s.Finetune.BatchSize != 32 {
		t.Errorf("finetune stage: %+v", s.Finetune)
	}
	m := s.Measure
	if m.Samples != 1000 || m.Criterion != "top1" || m.Float.Top1 == nil || m.PTQ.Top1 == nil || m.PTQ.MeanSQNR == nil ||
		m.Finetuned == nil || m.Finetuned.Top1 == nil || m.Finetuned.MeanSQNR == nil {
		t.Fatalf("measure stage: %+v", m)
	}
	if st, err := os.Stat(out); err != nil || s.Export.Target != "ort" || s.Export.Bytes != st.Size() {
		t.Errorf("export stage %+v, file: %v", s.Export, err)
	}
	kept := map[string]*quantizeFigureJSON{"ptq": &m.PTQ, "finetuned": m.Finetuned}[q.Kept]
	if kept == nil {
		t.Fatalf("kept %q", q.Kept)
	}
	// The rule: the fine-tuned model is kept unless its top-1 is lower.
	if (q.Kept == "finetuned") != (*m.Finetuned.Top1 >= *m.PTQ.Top1) {
		t.Errorf("kept %s with PTQ top-1 %v and fine-tuned %v", q.Kept, *m.PTQ.Top1, *m.Finetuned.Top1)
	}
	t.Logf("1000 test images, onnxq's engine: float %.1f%%, PTQ %.1f%% (%.2f dB), fine-tuned %.1f%% (%.2f dB); kept %s: %s",
		100**m.Float.Top1, 100**m.PTQ.Top1, *m.PTQ.MeanSQNR, 100**m.Finetuned.Top1, *m.Finetuned.MeanSQNR, q.Kept, q.Why)
	// 30 Adam steps of 1e-4 move weights by up to 3e-3, across int8
	// rounding steps: the fine-tuned candidate is another model.
	if *m.Finetuned.MeanSQNR == *m.PTQ.MeanSQNR {
		t.Errorf("the fine-tuned model measures exactly as the PTQ model (%g dB): did training run?", *m.PTQ.MeanSQNR)
	}
	// 0.5 points of 1000 images are 5 images.
	if *kept.Top1 < *m.Float.Top1-0.005 {
		t.Errorf("kept model's top-1 %.2f%% is more than 0.5 points below the float model's %.2f%%", 100**kept.Top1, 100**m.Float.Top1)
	}

	var full quantizeJSON
	if err := json.Unmarshal(readFile(t, rep), &full); err != nil {
		t.Fatal(err)
	}
	if full.PTQReport == nil || len(full.PTQReport.Nodes) == 0 || full.Kept != q.Kept || full.Stages.Finetune == nil {
		t.Errorf("--report lacks the stages or the PTQ report: %+v", full)
	}

	// The written model: Q/DQ nodes, int8 weights, int32 biases.
	wm := checkExported(t, out, graph.Int8)
	counts := map[string]int{}
	wm.Graph.Walk(func(n *graph.Node) bool { counts[n.OpType]++; return true })
	if counts["QuantizeLinear"] == 0 || counts["DequantizeLinear"] == 0 {
		t.Errorf("the written model has no Q/DQ nodes: %v", counts)
	}

	// onnxq's engine on the written file scores what the report measured.
	src, err := dataset.OpenMNIST(images, dataset.MNISTPresets["mnist-7"])
	if err != nil {
		t.Fatal(err)
	}
	src1000, err := dataset.Slice(src, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := evaluate.ReadLabels(labelsFile)
	if err != nil {
		t.Fatal(err)
	}
	goTop1, err := top1(wm, src1000, labels[:1000])
	if err != nil {
		t.Fatal(err)
	}
	if goTop1 != *kept.Top1 {
		t.Errorf("the written model scores %.2f%% in onnxq's engine, the report says %.2f%%", 100*goTop1, 100**kept.Top1)
	}
	// ONNX Runtime runs the Q/DQ in integer kernels, which may round an
	// activation one step apart from onnxq's float emulation: a sample
	// near a tie may flip, hence one sample of 1000.
	ortTop1 := ortScore(t, out, wm, src1000, labels[:1000])
	t.Logf("ONNX Runtime 1.30: %.1f%% on the same 1000 images", 100*ortTop1)
	if math.Abs(ortTop1-*kept.Top1) > 1.5/1000 {
		t.Errorf("ONNX Runtime scores the written model %.2f%%, onnxq's engine %.2f%%", 100*ortTop1, 100**kept.Top1)
	}
	if ortTop1 < *m.Float.Top1-0.005 {
		t.Errorf("ONNX Runtime top-1 %.2f%% is more than 0.5 points below the float model's %.2f%%", 100*ortTop1, 100**m.Float.Top1)
	}
}

// TestQuantizeIsDeterministic runs quantize twice with the same flags
// (fine-tuning included) and compares the files byte by byte; with
// --no-finetune it must write exactly what insert-qdq followed by export
// writes, with or without a budget, and so must a run whose fine-tuning
// (a learning rate 5000 times the default) makes the model worse.
func TestQuantizeIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	model := testdata.Path(t, "mnist-7.onnx")
	path := func(name string) string { return filepath.Join(dir, name) }
	small := mnistCalib(t, 64)
	for _, name := range []string{"a.onnx", "b.onnx"} {
		q := runQuantize(t, slices.Concat(small, []string{model, "-o", path(name), "--finetune-steps", "6", "--finetune-lr", "1e-3"})...)
		if q.Stages.Finetune == nil || q.Stages.Finetune.Training.Steps != 6 {
			t.Fatalf("fine-tuning did not run 6 steps: %+v", q.Stages.Finetune)
		}
	}
	if !bytes.Equal(readFile(t, path("a.onnx")), readFile(t, path("b.onnx"))) {
		t.Error("two runs with the same flags wrote different files")
	}
	testdata.Written(t, path("a.onnx"))
	worse := runQuantize(t, slices.Concat(small, []string{model, "-o", path("worse.onnx"), "--finetune-lr", "0.05", "--finetune-steps", "4"})...)
	if worse.Kept != "ptq" || !strings.Contains(worse.Why, "PTQ model is kept") {
		t.Errorf("after fine-tuning at lr 0.05 quantize kept %s: %s", worse.Kept, worse.Why)
	}

	for _, budget := range [][]string{nil, {"--min-sqnr", "20", "--precisions", "int4,int8"}} {
		q := runQuantize(t, slices.Concat(small, []string{model, "-o", path("ptq.onnx"), "--no-finetune"}, budget)...)
		if q.Kept != "ptq" || q.Stages.Finetune != nil || q.Stages.Measure.Finetuned != nil {
			t.Errorf("--no-finetune %v: kept %s, finetune %+v", budget, q.Kept, q.Stages.Finetune)
		}
		if r := runInProcess(slices.Concat([]string{"--quiet", "insert-qdq", model, "-o", path("iq.onnx")}, small, budget)...); r.code != exitOK {
			t.Fatalf("insert-qdq %v: %s", budget, r.stderr)
		}
		if r := runInProcess("--quiet", "export", path("iq.onnx"), "-o", path("iq.int.onnx")); r.code != exitOK {
			t.Fatalf("export: %s", r.stderr)
		}
		if !bytes.Equal(readFile(t, path("ptq.onnx")), readFile(t, path("iq.int.onnx"))) {
			t.Errorf("quantize --no-finetune %v differs from insert-qdq + export", budget)
		}
		if budget == nil && !bytes.Equal(readFile(t, path("worse.onnx")), readFile(t, path("iq.int.onnx"))) {
			t.Errorf("quantize kept the PTQ model but wrote another file than insert-qdq + export")
		}
	}
}

// TestQuantizeBadInput: a missing --calib, -o naming the input (spelt
// another way), calibration data (or --train data) that does not fit the
// model, and flags that contradict each other each give one error line
// naming what is wrong, exit code 1, no output file and an unchanged
// input.
func TestQuantizeBadInput(t *testing.T) {
	dir := t.TempDir()
	model := copyModel(t, "mnist-7", dir)
	before := fileHash(t, model)
	wrongShape, err := graph.NewTensor(graph.Float, []int64{4, 1, 1, 28, 27}, make([]float32, 4*28*27))
	if err != nil {
		t.Fatal(err)
	}
	badNpz := writeNpz(t, filepath.Join(dir, "bad.npz"), map[string]*graph.Tensor{"Input3": wrongShape})
	photos := testdata.Path(t, "images")
	calib := mnistCalib(t, 20)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "q.onnx")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing --calib", []string{model, "-o", out}, []string{"--calib"}},
		{"output is the input", append([]string{model, "-o", dir + "/./mnist-7.onnx"}, calib...), []string{"would overwrite the input model"}},
		{"calib of the wrong shape", []string{model, "-o", out, "--calib", badNpz}, []string{badNpz, model, "does not fit the model", "[1 1 28 27]"}},
		{"calib for another model", []string{model, "-o", out, "--calib", photos, "--preprocess", "blazeface-front"}, []string{photos, model, "does not fit the model", `"Input3"`}},
		{"train for another model", append([]string{model, "-o", out, "--train", badNpz}, calib...), []string{"--train " + badNpz, "does not fit the model", "[1 1 28 27]"}},
		{"fine-tuning flag with --no-finetune", append([]string{model, "-o", out, "--no-finetune", "--finetune-steps", "3"}, calib...), []string{"--finetune-steps", "--no-finetune"}},
		{"unknown loss", append([]string{model, "-o", out, "--finetune-loss", "ce"}, calib...), []string{"--finetune-loss", "auto, mse, kl or bce"}},
		{"unknown target", append([]string{model, "-o", out, "--target", "coreml"}, calib...), []string{"--target", "coreml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runInProcess(append([]string{"quantize"}, tc.args...)...)
			if r.code != exitUser {
				t.Fatalf("exit code %d, want %d; stderr: %s", r.code, exitUser, r.stderr)
			}
			oneErrorLine(t, r, tc.want...)
			if left := leftovers(t, outDir); len(left) > 0 {
				t.Errorf("the failed run left %v", left)
			}
			if left := leftovers(t, dir, "mnist-7.onnx", "bad.npz"); len(left) > 0 {
				t.Errorf("the failed run left %v next to the input", left)
			}
			if fileHash(t, model) != before {
				t.Fatal("the input model changed")
			}
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("a failed run wrote to stdout: %s", r.stdout)
			}
		})
	}
	// The binary exits the same way.
	if r := runBinary(t, "quantize", model, "-o", out, "--calib", badNpz); r.code != exitUser {
		t.Errorf("binary: exit %d: %s", r.code, r.stderr)
	}
}

// TestQuantizeHoldsOutCalibrationSamples checks that without --eval and
// --train the last fifth of the calibration samples is kept out of
// fine-tuning and decides which candidate is written, and that with
// --train every calibration sample is measured.
func TestQuantizeHoldsOutCalibrationSamples(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	dir := t.TempDir()
	q := runQuantize(t, append([]string{model, "-o", filepath.Join(dir, "a.onnx"), "--finetune-steps", "2"}, mnistCalib(t, 50)...)...)
	if q.Stages.Finetune == nil || q.Stages.Finetune.Samples != 40 || q.Stages.Measure.Samples != 10 {
		t.Fatalf("fine-tuned on %+v, measured on %d samples (%s); want 40 and 10", q.Stages.Finetune, q.Stages.Measure.Samples, q.Stages.Measure.Data)
	}
	if !strings.Contains(q.Stages.Measure.Data, "held out") {
		t.Errorf("measure data %q does not say the samples were held out", q.Stages.Measure.Data)
	}
	train := testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz")
	q = runQuantize(t, append([]string{model, "-o", filepath.Join(dir, "b.onnx"), "--finetune-steps", "2", "--train", train}, mnistCalib(t, 50)...)...)
	if q.Stages.Measure.Samples != 50 {
		t.Errorf("with --train: measured on %d samples (%s), want all 50 calibration samples", q.Stages.Measure.Samples, q.Stages.Measure.Data)
	}
}

// TestQuantizeChoosesTheLossByOutput checks --finetune-loss auto: PP-OCRv4
// det's text map comes out of a Sigmoid and is distilled with binary
// cross-entropy; mnist-7's logits with the default, mse.
func TestQuantizeChoosesTheLossByOutput(t *testing.T) {
	for _, c := range []struct {
		model string
		want  string
	}{{"ppocr/ch_PP-OCRv4_det_infer.onnx", "bce"}, {"mnist-7.onnx", "mse"}} {
		m, err := graph.FromFile(testdata.Path(t, c.model))
		if err != nil {
			t.Fatal(err)
		}
		if got := autoLoss(m); string(got) != c.want {
			t.Errorf("%s: loss %q, want %q", c.model, got, c.want)
		}
	}
}

// TestJudgeProbabilities checks the keep rule for probability outputs:
// the lower mean Bernoulli KL wins, unless the float model detects nothing
// on the evaluation data (no element above 0.5), where a model that
// predicts nothing looks best and the PTQ model is kept.
func TestJudgeProbabilities(t *testing.T) {
	fig := func(kl float64) figures { return figures{MeanKL: &kl} }
	positives := func(n int) figures { return figures{Positives: &n} }
	for _, c := range []struct {
		name      string
		float     figures
		ptq, tune float64
		keep      bool
	}{
		{"fine-tuned closer", positives(120), 3e-3, 1e-3, true},
		{"fine-tuned farther", positives(120), 1e-3, 3e-3, false},
		{"nothing detected", positives(0), 3.7e-10, 2.8e-10, false},
	} {
		keep, why := judge("bernoulli_kl", c.float, fig(c.ptq), fig(c.tune))
		if keep != c.keep || why == "" {
			t.Errorf("%s: keep fine-tuned %v (%s), want %v", c.name, keep, why, c.keep)
		}
	}
}
