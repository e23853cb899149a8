package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// mnistAccuracy is the top-1 accuracy of mnist-7 on the 10,000 MNIST test
// images as ONNX Runtime 1.30 gives it (REFDATA.md): 9891 correct.
const mnistTop1Correct = 9891

// evalJSON is the part of `onnxq eval --json` the tests read.
type evalJSON struct {
	Engine      string  `json:"engine"`
	Samples     int     `json:"samples"`
	Output      string  `json:"output"`
	Classes     int     `json:"classes"`
	Top1        float64 `json:"top1"`
	Top1Correct int     `json:"top1_correct"`
	Top5Correct *int    `json:"top5_correct"`
	Seconds     float64 `json:"seconds"`
	Agreement   map[string]struct {
		MaxAbs float64 `json:"max_abs"`
		MaxRel float64 `json:"max_rel"`
		Cosine float64 `json:"cosine"`
		Count  int     `json:"count"`
	} `json:"agreement"`
}

func runEvalJSON(t *testing.T, args ...string) evalJSON {
	t.Helper()
	r := runInProcess(append([]string{"eval", "--json", "--quiet"}, args...)...)
	if r.code != exitOK {
		t.Fatalf("onnxq eval %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	var e evalJSON
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("eval --json output is not JSON: %v\n%s", err, r.stdout)
	}
	return e
}

// mnistFiles returns mnist-7 and the MNIST test images and labels.
func mnistFiles(t *testing.T) (model, images, labels string) {
	return testdata.Path(t, "mnist-7.onnx"), testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz"),
		testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz")
}

// TestEvalMNISTGoEngine is the acceptance test of the Go engine: mnist-7
// on all 10,000 MNIST test images scores exactly what ONNX Runtime scores.
func TestEvalMNISTGoEngine(t *testing.T) {
	model, images, labels := mnistFiles(t)
	start := time.Now()
	e := runEvalJSON(t, model, "--mnist", images, "--mnist-labels", labels)
	t.Logf("Go engine: 10,000 mnist-7 inferences and scoring in %v (eval reports %.2f s)", time.Since(start), e.Seconds)
	if e.Engine != "go" || e.Samples != 10000 || e.Classes != 10 || e.Output != "Plus214_Output_0" {
		t.Errorf("%+v", e)
	}
	if e.Top1Correct != mnistTop1Correct || e.Top1 != 0.9891 {
		t.Errorf("top-1 %d/10000 (%v), want %d (98.91%%, the ONNX Runtime figure)", e.Top1Correct, e.Top1, mnistTop1Correct)
	}
	if e.Top5Correct == nil || *e.Top5Correct < e.Top1Correct {
		t.Errorf("top-5 %v is missing or below top-1", e.Top5Correct)
	}
}

// TestEvalText checks the readable output on a slice of the test set.
func TestEvalText(t *testing.T) {
	model, images, labels := mnistFiles(t)
	r := runInProcess("eval", model, "--mnist", images, "--mnist-labels", labels, "--limit", "100")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"engine  go", "100 sample(s)", "Plus214_Output_0 (10 classes)", "top-1   ", "% (", "/100)", "top-5"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// writeMNISTNpz writes the first n MNIST test images as an .npz in
// onnxq's stacked layout: "Input3" float32 [n,1,1,28,28] of raw pixels and,
// when labelKey is set, the labels as int64 [n].
func writeMNISTNpz(t *testing.T, n int, labelKey string) string {
	t.Helper()
	_, images, labels := mnistFiles(t)
	img, err := dataset.ReadIDX(images)
	if err != nil {
		t.Fatal(err)
	}
	px := img.Data.([]uint8)[:n*784]
	x := make([]float32, len(px))
	for i, p := range px {
		x[i] = float32(p)
	}
	arrays := map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Float, []int64{int64(n), 1, 1, 28, 28}, x)}
	if labelKey != "" {
		l, err := dataset.ReadIDXLabels(labels)
		if err != nil {
			t.Fatal(err)
		}
		arrays[labelKey] = graph.MustTensor(graph.Int64, []int64{int64(n)}, l[:n])
	}
	path := filepath.Join(t.TempDir(), "mnist.npz")
	if err := dataset.WriteNpz(path, arrays, dataset.NpzOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEvalNpzAgreesWithMNISTReader scores the same 500 images given as an
// .npz with a label array and through the MNIST idx reader.
func TestEvalNpzAgreesWithMNISTReader(t *testing.T) {
	model, images, labels := mnistFiles(t)
	npz := writeMNISTNpz(t, 500, "digits")
	a := runEvalJSON(t, model, "--data", npz, "--labels", "digits")
	b := runEvalJSON(t, model, "--mnist", images, "--mnist-labels", labels, "--limit", "500")
	if a.Samples != 500 || a.Top1Correct != b.Top1Correct || *a.Top5Correct != *b.Top5Correct {
		t.Errorf(".npz: %+v\nidx: %+v", a, b)
	}
	// A plausible score for the first 500 images of a 98.91% model.
	if a.Top1Correct < 480 {
		t.Errorf("top-1 %d/500", a.Top1Correct)
	}
	// The label key defaults to "labels"; here there is none.
	r := runInProcess("eval", model, "--data", npz)
	if r.code != exitUser || !strings.Contains(r.stderr, `no label array "labels"`) || !strings.Contains(r.stderr, "digits") {
		t.Errorf("missing label array: exit %d, %s", r.code, r.stderr)
	}
}

// TestEvalTestDataSets compares mnist-7's outputs with the reference
// outputs stored with the model (computed by CNTK, the exporter).
func TestEvalTestDataSets(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	e := runEvalJSON(t, model, "--data", testdata.Path(t, "mnist-7"))
	d, ok := e.Agreement["Plus214_Output_0"]
	if e.Samples != 3 || !ok || d.Count != 30 {
		t.Fatalf("%+v", e)
	}
	// The logits reach |x| ~ 6,600 after sums of at most 256*25 = 6,400
	// products (Times212 over 256 features; Conv over 8*5*5); float32
	// reassociation moves each sum by ~sqrt(K)*eps*|terms|, about 1e-5
	// relative; the measured figure is 1.5e-7, so 1e-5 leaves a margin of 60.
	if d.MaxRel > 1e-5 || d.Cosine < 1-1e-9 {
		t.Errorf("agreement with the stored outputs: %+v", d)
	}
	t.Logf("mnist-7 vs its test data: max abs %.3g, max rel %.3g, cosine %.10f", d.MaxAbs, d.MaxRel, d.Cosine)
}

func TestEvalUserErrors(t *testing.T) {
	model, images, labels := mnistFiles(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no labels", []string{"eval", model, "--mnist", images}, []string{"no labels", "--label-file"}},
		{"label count", []string{"eval", model, "--mnist", images, "--mnist-labels", testdata.Path(t, "mnist-7/test_data_set_0/output_0.pb")}, []string{"output_0.pb"}},
		{"no data", []string{"eval", model}, []string{"no samples", "--data"}},
		{"both sources", []string{"eval", model, "--data", images, "--mnist", images, "--mnist-labels", labels}, []string{"not both"}},
		{"bad engine", []string{"eval", model, "--mnist", images, "--mnist-labels", labels, "--engine", "gpu"}, []string{"--engine", `"gpu"`}},
		{"bad logits", []string{"eval", model, "--mnist", images, "--mnist-labels", labels, "--logits", "nope", "--limit", "2"}, []string{`no output "nope"`, "Plus214_Output_0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runInProcess(tc.args...)
			if r.code != exitUser {
				t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
			}
			oneErrorLine(t, r, tc.want...)
		})
	}
}
