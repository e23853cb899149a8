package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
)

// budgetJSON is the part of insert-qdq's budget report the tests read.
type budgetJSON struct {
	Search struct {
		Why      string `json:"why"`
		Baseline struct {
			Size int64 `json:"size_bytes"`
		} `json:"baseline"`
		Chosen map[string]struct {
			WeightBits int `json:"weight_bits"`
			ActBits    int `json:"act_bits"`
		} `json:"chosen"`
	} `json:"search"`
	Final struct {
		Size int64    `json:"size_bytes"`
		Top1 *float64 `json:"top1"`
	} `json:"final"`
	Meets  bool   `json:"final_meets_budget"`
	Config string `json:"config_file"`
}

func runBudget(t *testing.T, args ...string) budgetJSON {
	t.Helper()
	r := runInProcess(append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("insert-qdq with a budget: %s", r.stderr)
	}
	var b budgetJSON
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("%v\n%.1000s", err, r.stdout)
	}
	return b
}

// ortTop1 scores a model file in ONNX Runtime 1.30 on the 10,000 MNIST
// test images.
func ortTop1(t *testing.T, path string) float64 {
	t.Helper()
	m, err := evaluate.Open(path, evaluate.Options{Engine: evaluate.EngineORT, ORTLib: ortLib(t), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src, err := m.OpenMNIST(testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz"), 1)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := evaluate.ReadLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.Accuracy(src, labels, evaluate.AccuracyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a.Top1
}

// TestBudgetMNIST is the acceptance test of a top-1 budget: insert-qdq
// --max-drop 0.1 with int4 allowed, measured in ONNX Runtime on the
// 10,000 MNIST test images, writes a model that ONNX Runtime (run here
// directly) scores within 0.1 points of the float model, smaller than
// all int8; its config file makes insert-qdq --config write the same
// bytes, and finetune trains from it.
func TestBudgetMNIST(t *testing.T) {
	dir := t.TempDir()
	mn := testdata.Path(t, "mnist")
	model := testdata.Path(t, "mnist-7.onnx")
	calib := []string{"--calib", filepath.Join(mn, "train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", "200"}
	q := filepath.Join(dir, "mnist.mixed.onnx")
	html := filepath.Join(dir, "html")
	b := runBudget(t, append(append([]string{"insert-qdq", model}, calib...), "--max-drop", "0.1", "--precisions", "int4,int8,int16,float",
		"--eval", filepath.Join(mn, "t10k-images-idx3-ubyte.gz"), "--eval-labels", filepath.Join(mn, "t10k-labels-idx1-ubyte.gz"),
		"--engine", "ort", "--ort-lib", ortLib(t), "--threads", "1", "-o", q, "--html", html)...)
	testdata.Written(t, q)
	floatTop1, top1 := ortTop1(t, model), ortTop1(t, q)
	st, err := os.Stat(q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; ONNX Runtime top-1 %.2f%% (float %.2f%%), %d bytes (all int8: %d); chosen %v", b.Search.Why, 100*top1, 100*floatTop1, st.Size(), b.Search.Baseline.Size, b.Search.Chosen)
	// Counts of 10,000 samples: 0.1 points are 10 samples exactly.
	if top1 < floatTop1-0.001-1e-9 {
		t.Errorf("ONNX Runtime top-1 %.2f%% is more than 0.1 points below the float model's %.2f%%", 100*top1, 100*floatTop1)
	}
	if !b.Meets || b.Final.Top1 == nil || math.Abs(*b.Final.Top1-top1) > 1e-9 {
		t.Errorf("the tool measured the written model at %v (meets %v), ONNX Runtime here at %v", b.Final.Top1, b.Meets, top1)
	}
	if st.Size() >= b.Search.Baseline.Size {
		t.Errorf("the model (%d bytes) is not smaller than all int8 (%d bytes): %s", st.Size(), b.Search.Baseline.Size, b.Search.Why)
	}
	// The config file reproduces the model.
	fc, err := ptq.LoadConfig(b.Config)
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "again.onnx")
	if r := runInProcess(append(append([]string{"insert-qdq", model}, calib...), "--config", b.Config, "-o", again)...); r.code != 0 {
		t.Fatalf("insert-qdq --config: %s", r.stderr)
	}
	if !bytes.Equal(readFile(t, q), readFile(t, again)) {
		t.Errorf("insert-qdq --config %s writes another model", b.Config)
	}
	// finetune takes the same config.
	ft := filepath.Join(dir, "ft.onnx")
	r := runInProcess("finetune", model, "--config", b.Config, "--data", filepath.Join(mn, "train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", "64",
		"--labels-file", filepath.Join(mn, "train-labels-idx1-ubyte.gz"), "--max-steps", "2", "--batch-size", "32", "-o", ft)
	if r.code != 0 {
		t.Fatalf("finetune --config: %s", r.stderr)
	}
	if int4Nodes(fc) > 0 && !hasInt4(t, ft) {
		t.Errorf("the config gives %d node(s) int4 weights, the fine-tuned model has no int4 tensor", int4Nodes(fc))
	}
	if _, err := os.Stat(filepath.Join(html, "index.html")); err != nil {
		t.Errorf("no HTML report: %v", err)
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func int4Nodes(fc *ptq.FileConfig) int {
	n := 0
	for _, nc := range fc.Nodes {
		if nc.WeightBits == 4 {
			n++
		}
	}
	return n
}

// hasInt4 reports whether a model holds an int4 initializer (a weight or
// the zero point of a 4-bit quantizer).
func hasInt4(t *testing.T, path string) bool {
	t.Helper()
	m, err := graph.FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Graph.Initializers {
		if v.Const.DType == graph.Int4 {
			return true
		}
	}
	return false
}

// TestBudgetBlazeFace runs an SQNR budget on BlazeFace (front), measured
// in ONNX Runtime on two held-out photos: the written model keeps the
// budget when ONNX Runtime runs it here, and it is smaller than the int8
// baseline that keeps the same budget.
func TestBudgetBlazeFace(t *testing.T) {
	dir := t.TempDir()
	imgs, err := dataset.OpenImageFolder(testdata.Path(t, "images"), dataset.ImagePresets["blazeface-front"])
	if err != nil {
		t.Fatal(err)
	}
	var rows []*graph.Tensor
	for i := 6; i < 8; i++ {
		s, err := imgs.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s["input:0"])
	}
	stacked, err := dataset.Stack(rows)
	if err != nil {
		t.Fatal(err)
	}
	eval := writeNpz(t, filepath.Join(dir, "eval.npz"), map[string]*graph.Tensor{"input:0": stacked})
	model := testdata.Path(t, testdata.RealModels["blazeface-front"])
	q := filepath.Join(dir, "front.mixed.onnx")
	const budget = 17.0
	b := runBudget(t, "insert-qdq", model, "--calib", testdata.Path(t, "images"), "--preprocess", "blazeface-front", "--limit", "6",
		"--min-sqnr", "17", "--eval", eval, "--engine", "ort", "--ort-lib", ortLib(t), "--threads", "1", "-o", q)
	testdata.Written(t, q)
	got := ortOutputSQNR(t, model, q, eval)
	st, err := os.Stat(q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; ONNX Runtime SQNR %.2f dB, %d bytes", b.Search.Why, got, st.Size())
	if got < budget {
		t.Errorf("ONNX Runtime measures %.2f dB, below the budget of %.0f dB", got, budget)
	}
	if st.Size() >= b.Search.Baseline.Size {
		t.Errorf("the model (%d bytes) is not smaller than the int8 baseline (%d bytes): %s", st.Size(), b.Search.Baseline.Size, b.Search.Why)
	}
}

// ortOutputSQNR runs two model files in ONNX Runtime on the samples of an
// .npz and returns the lowest SQNR of their outputs, in dB.
func ortOutputSQNR(t *testing.T, floatPath, qPath, data string) float64 {
	t.Helper()
	src, _, err := dataset.Open(data, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	run := func(path string) map[string]*graph.Tensor {
		m, err := evaluate.Open(path, evaluate.Options{Engine: evaluate.EngineORT, ORTLib: ortLib(t), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out, err := m.RunAll(src, evaluate.EachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ref, got := run(floatPath), run(qPath)
	worst := math.Inf(1)
	for name, r := range ref {
		rf, _ := r.Float32s()
		gf, _ := got[name].Float32s()
		var signal, noise float64
		for i := range rf {
			d := float64(gf[i]) - float64(rf[i])
			signal += float64(rf[i]) * float64(rf[i])
			noise += d * d
		}
		worst = math.Min(worst, 10*math.Log10(signal/noise))
	}
	return worst
}

// TestBudgetFlagErrors: budget flags need a budget, a top-1 budget needs
// labels, and a budget sets the bit widths itself.
func TestBudgetFlagErrors(t *testing.T) {
	mn := testdata.Path(t, "mnist")
	base := []string{"insert-qdq", testdata.Path(t, "mnist-7.onnx"), "--calib", filepath.Join(mn, "train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", "20", "-o", filepath.Join(t.TempDir(), "q.onnx")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--precisions", "int4"}, "applies to a budget"},
		{[]string{"--max-drop", "0.5"}, "labelled evaluation data"},
		{[]string{"--min-sqnr", "20", "--precisions", "int3"}, "--precisions"},
		{[]string{"--min-sqnr", "20", "--weight-bits", "4"}, "bit widths"},
		{[]string{"--min-sqnr", "20", "--stats", "x.json"}, "--stats"},
		{[]string{"--max-drop", "-1"}, "--max-drop"},
	} {
		r := runInProcess(append(append([]string{}, base...), c.args...)...)
		if r.code != exitUser || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, %s", c.args, r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r, c.want)
	}
}
