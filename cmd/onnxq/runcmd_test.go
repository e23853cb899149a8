package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// TestRunTestDataSets runs mnist-7 on its three test data folders and
// checks the stacked output against the stored reference outputs.
func TestRunTestDataSets(t *testing.T) {
	model, dir := testdata.Path(t, "mnist-7.onnx"), testdata.Path(t, "mnist-7")
	out := filepath.Join(t.TempDir(), "out.npz")
	r := runInProcess("run", model, "--data", dir, "-o", out, "--quiet")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "3 sample(s)") || !strings.Contains(r.stdout, "Plus214_Output_0") {
		t.Errorf("stdout: %s", r.stdout)
	}
	arrays, err := dataset.ReadNpz(out)
	if err != nil {
		t.Fatal(err)
	}
	y := arrays["Plus214_Output_0"]
	if len(arrays) != 1 || y == nil || !reflect.DeepEqual(y.Shape, []int64{3, 1, 10}) {
		t.Fatalf("OUT.npz holds %v", arrays)
	}
	sets, err := dataset.OpenTestDataSets(dir, []string{"Input3"}, []string{"Plus214_Output_0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		want, err := sets.Expected(i)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := dataset.Row(y, i)
		w, _ := want["Plus214_Output_0"].Float32s()
		g, _ := got.Float32s()
		for k := range w {
			// Logits up to ~6,600 from sums of up to 6,400 float32 products:
			// a reordered sum differs by ~1e-5 relative; 0.05 absolute is a
			// 7e-6 relative bound at that size.
			if d := g[k] - w[k]; d > 0.05 || d < -0.05 {
				t.Errorf("set %d logit %d: %v, reference %v", i, k, g[k], w[k])
			}
		}
	}
}

// TestRunIsDeterministic runs twice on the same samples: the .npz files
// must be byte-identical.
func TestRunIsDeterministic(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	in := writeMNISTNpz(t, 8, "")
	dir := t.TempDir()
	var files [2][]byte
	for i := range files {
		out := filepath.Join(dir, "out.npz")
		r := runInProcess("run", model, "--data", in, "-o", out, "--json")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, `"samples": 8`) || !strings.Contains(r.stdout, `"output_file"`) {
			t.Errorf("--json output: %s", r.stdout)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs on the same data wrote different files")
	}
}

// unsupportedModel writes a model using three operators no engine version
// will have: two unknown default-domain ops and an op of a custom domain,
// around a supported Relu.
func unsupportedModel(t *testing.T) string {
	t.Helper()
	b := graph.NewBuilder(13)
	b.Model().SetOpset("com.example", 1)
	x := b.Input("x", graph.Float, 1, 4)
	y := b.Op("Relu", []*graph.Value{x}, nil)
	z := b.Op("FrobnicateTensor", []*graph.Value{y}, nil)
	w := b.Op("Warp", []*graph.Value{z}, nil)
	w.Producer.Domain = "com.example"
	n := b.Op("Teleport", []*graph.Value{x}, nil)
	b.Output(w, n)
	path := filepath.Join(t.TempDir(), "unsupported.onnx")
	if err := b.Model().Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunUnsupportedOpsOneError: a model with several unsupported
// operators fails before any sample runs, with one error line listing all
// of them, exit code 1, and no output file.
func TestRunUnsupportedOpsOneError(t *testing.T) {
	model := unsupportedModel(t)
	// The model is checked before the data is read: any data file will do.
	in := writeMNISTNpz(t, 1, "")
	out := filepath.Join(t.TempDir(), "out.npz")
	r := runBinary(t, "run", model, "--data", in, "-o", out)
	if r.code != exitUser {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	oneErrorLine(t, r, model, "3 unsupported operator(s)", "FrobnicateTensor (opset 13)", "com.example:Warp (opset 1)", "Teleport (opset 13)")
	if strings.Contains(r.stderr, "Relu") {
		t.Errorf("a supported op is listed: %s", r.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an output file was written: %v", err)
	}
	if ip := runInProcess("run", model, "--data", in, "-o", out); ip != r {
		t.Errorf("in-process run differs from the binary: %+v vs %+v", ip, r)
	}
}

func TestRunUserErrors(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.npz")
	// Arrays without the samples axis: [2,1,28,28] for input [1,1,28,28].
	flat := filepath.Join(dir, "flat.npz")
	if err := dataset.WriteNpz(flat, map[string]*graph.Tensor{"Input3": graph.Zeros(graph.Float, []int64{2, 1, 28, 28})}, dataset.NpzOptions{}); err != nil {
		t.Fatal(err)
	}
	wrongName := filepath.Join(dir, "wrong.npz")
	if err := dataset.WriteNpz(wrongName, map[string]*graph.Tensor{"image": graph.Zeros(graph.Float, []int64{2, 1, 1, 28, 28})}, dataset.NpzOptions{}); err != nil {
		t.Fatal(err)
	}
	two := writeMNISTNpz(t, 2, "")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no output", []string{"run", model, "--data", flat}, []string{"-o OUT.npz"}},
		{"no data", []string{"run", model, "-o", out}, []string{"no samples"}},
		{"missing data", []string{"run", model, "--data", filepath.Join(dir, "nope.npz"), "-o", out}, []string{"nope.npz"}},
		{"no samples axis", []string{"run", model, "--data", flat, "-o", out}, []string{"Input3", "first axis indexes samples"}},
		{"wrong array name", []string{"run", model, "--data", wrongName, "-o", out}, []string{`"image"`, `"Input3"`}},
		{"bad threads", []string{"run", model, "--data", flat, "-o", out, "--threads", "-2"}, []string{"--threads"}},
		{"bad batch", []string{"run", model, "--data", flat, "-o", out, "--batch", "0"}, []string{"--batch"}},
		{"offset too far", []string{"run", model, "--data", two, "-o", out, "--offset", "2"}, []string{"--offset 2", "2 samples"}},
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
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run wrote %s", out)
	}
}
