package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/tune"
)

// TestAnalyzeCommand analyzes BlazeFace (front) on real photos and writes
// the report: every layer is ranked, by the SQNR of the layer quantized
// alone, and the report folder holds the page, its plots and the data.
func TestAnalyzeCommand(t *testing.T) {
	imgs := testdata.Path(t, "images")
	dir := filepath.Join(t.TempDir(), "report")
	r := runInProcess("analyze", testdata.Path(t, testdata.RealModels["blazeface-front"]), "--calib", imgs, "--preprocess", "blazeface-front", "--limit", "6",
		"--eval", imgs, "--eval-limit", "2", "--report", dir, "--json")
	if r.code != 0 {
		t.Fatalf("analyze: %s", r.stderr)
	}
	var a tune.Analysis
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("%v\n%.500s", err, r.stdout)
	}
	if len(a.Layers) < 30 || a.Quantized == nil || len(a.Curve) < 3 {
		t.Fatalf("%d layers, curve of %d points", len(a.Layers), len(a.Curve))
	}
	for i, l := range a.Layers {
		if l.Rank != i+1 || l.Alone == nil || l.LeftFloat == nil || i > 0 && l.Alone.SQNR < a.Layers[i-1].Alone.SQNR {
			t.Fatalf("layer %d: %s rank %d", i, l.Name, l.Rank)
		}
	}
	for _, f := range []string{"index.html", "report.json", "sensitivity.svg", "tradeoff-sqnr.svg", "hist-01.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	t.Logf("%d layers; most sensitive %s (%.2f dB alone); all int8 %.2f dB", len(a.Layers), a.Layers[0].Name, float64(a.Layers[0].Alone.SQNR), float64(a.Quantized.SQNR))
}

// TestAnalyzeCommandWithLabels analyzes mnist-7 with labelled MNIST test
// images: top-1 is measured for every variant, and the text output lists
// the ranked layers.
func TestAnalyzeCommandWithLabels(t *testing.T) {
	mn := testdata.Path(t, "mnist")
	args := []string{"analyze", testdata.Path(t, "mnist-7.onnx"), "--calib", filepath.Join(mn, "train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", "100",
		"--eval", filepath.Join(mn, "t10k-images-idx3-ubyte.gz"), "--eval-labels", filepath.Join(mn, "t10k-labels-idx1-ubyte.gz"), "--eval-limit", "300"}
	r := runInProcess(append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("analyze: %s", r.stderr)
	}
	var a tune.Analysis
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatal(err)
	}
	if a.Float.Top1 == nil || a.Quantized.Top1 == nil || len(a.Layers) != 3 || a.Layers[0].Alone.Top1 == nil || a.EvalSamples != 300 {
		t.Fatalf("no top-1 figures: %+v", a)
	}
	text := runInProcess(args...)
	for _, want := range []string{"Convolution28", "Convolution110", "Times212_gemm", "trade-off", "top-1"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, text.stdout)
		}
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{append(append([]string{}, args...), "--precision", "int3"), "--precision"},
		{[]string{"analyze", testdata.Path(t, "mnist-7.onnx"), "--calib", filepath.Join(mn, "train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--eval-labels", filepath.Join(mn, "t10k-labels-idx1-ubyte.gz")}, "need --eval"},
		{append(append([]string{}, args...), "--weight-bits", "4"), "unknown flag"},
	} {
		r := runInProcess(bad.args...)
		if r.code != exitUser {
			t.Errorf("%v: exit %d, %s", bad.args[len(bad.args)-2:], r.code, r.stderr)
			continue
		}
		oneErrorLine(t, r, bad.want)
	}
}
