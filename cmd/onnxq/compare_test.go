package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/tune"
)

// compareJSON is the part of `onnxq compare --json` the tests read.
type compareJSON struct {
	Samples   int                 `json:"samples"`
	Outputs   []tune.TensorResult `json:"outputs"`
	Tensors   []tune.TensorResult `json:"tensors"`
	Unmatched int                 `json:"unmatched"`
}

// quantizeFront writes BlazeFace (front) quantized by insert-qdq with
// four photos and returns the float and the quantized model's paths.
func quantizeFront(t *testing.T, dir string) (string, string) {
	t.Helper()
	model := testdata.Path(t, testdata.RealModels["blazeface-front"])
	q := filepath.Join(dir, "front.qdq.onnx")
	r := runInProcess("insert-qdq", model, "--calib", testdata.Path(t, "images"), "--preprocess", "blazeface-front", "--limit", "4", "-o", q)
	if r.code != 0 {
		t.Fatalf("insert-qdq: %s", r.stderr)
	}
	return model, q
}

// TestCompareCommand compares BlazeFace (front) with its insert-qdq
// model on two held-out photos: every output and the quantized
// intermediate tensors are matched, listed worst SQNR first, and the text
// output names where the most noise enters.
func TestCompareCommand(t *testing.T) {
	model, q := quantizeFront(t, t.TempDir())
	imgs := testdata.Path(t, "images")
	r := runInProcess("compare", model, q, "--data", imgs, "--preprocess", "blazeface-front", "--offset", "6", "--limit", "2", "--json")
	if r.code != 0 {
		t.Fatalf("compare: %s", r.stderr)
	}
	var res compareJSON
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if res.Samples != 2 || len(res.Outputs) != 4 || len(res.Tensors) < 50 {
		t.Fatalf("%d samples, %d outputs, %d tensors", res.Samples, len(res.Outputs), len(res.Tensors))
	}
	dequantized := 0
	for i, tr := range res.Tensors {
		if i > 0 && tr.SQNR < res.Tensors[i-1].SQNR {
			t.Fatalf("not worst first: %s (%v) after %s (%v)", tr.Name, tr.SQNR, res.Tensors[i-1].Name, res.Tensors[i-1].SQNR)
		}
		if tr.Matched == tr.Name+"_dequantized" {
			dequantized++
		}
	}
	if dequantized < len(res.Tensors)/2 {
		t.Errorf("only %d of %d tensors matched with their DequantizeLinear output", dequantized, len(res.Tensors))
	}
	text := runInProcess("compare", model, q, "--data", imgs, "--preprocess", "blazeface-front", "--offset", "6", "--limit", "2", "--sort", "local", "--top", "5")
	if text.code != 0 || !strings.Contains(text.stdout, "most noise enters at") || !strings.Contains(text.stdout, "(5 of ") {
		t.Errorf("text output:\n%s%s", text.stdout, text.stderr)
	}
	t.Logf("worst: %s %s %.2f dB\n%s", res.Tensors[0].Name, res.Tensors[0].Op, float64(res.Tensors[0].SQNR), text.stdout)
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"compare", model}, "two models"},
		{[]string{"compare", model, q, "--data", imgs, "--preprocess", "blazeface-front", "--sort", "size"}, "--sort"},
		{[]string{"compare", model, filepath.Join(t.TempDir(), "missing.onnx"), "--data", imgs}, "missing.onnx"},
	} {
		r := runInProcess(bad.args...)
		if r.code != exitUser {
			t.Errorf("%v: exit %d", bad.args, r.code)
			continue
		}
		oneErrorLine(t, r, bad.want)
	}
}
