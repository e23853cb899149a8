package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/internal/testdata"
)

// ortLib is the ONNX Runtime 1.30 library: $ONNXRUNTIME_LIB or the copy in
// the reference data.
func ortLib(t *testing.T) string {
	t.Helper()
	if lib := os.Getenv(ort.LibraryEnv); lib != "" {
		return lib
	}
	return testdata.Path(t, "ort/libonnxruntime.so.1")
}

// TestEvalMNISTORT is the reference figure itself: ONNX Runtime through
// `onnxq eval --engine ort` scores 98.91%.
func TestEvalMNISTORT(t *testing.T) {
	model, images, labels := mnistFiles(t)
	e := runEvalJSON(t, model, "--mnist", images, "--mnist-labels", labels, "--engine", "ort", "--ort-lib", ortLib(t), "--threads", "1")
	if e.Engine != "ort" || e.Samples != 10000 || e.Top1Correct != mnistTop1Correct {
		t.Errorf("ONNX Runtime: %+v, want %d correct", e, mnistTop1Correct)
	}
}

// TestRunRoundTripAgainstORT writes an .npz of MNIST samples, runs it
// through `onnxq run` on both engines, reads OUT.npz back and compares it
// with ONNX Runtime run directly on the same samples.
func TestRunRoundTripAgainstORT(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	const n = 6
	in := writeMNISTNpz(t, n, "")
	dir := t.TempDir()
	outs := map[string]string{}
	for _, eng := range []string{"go", "ort"} {
		out := filepath.Join(dir, eng+".npz")
		r := runInProcess("run", model, "--data", in, "-o", out, "--engine", eng, "--ort-lib", ortLib(t), "--quiet")
		if r.code != exitOK {
			t.Fatalf("--engine %s: exit %d: %s", eng, r.code, r.stderr)
		}
		outs[eng] = out
	}
	if err := ort.Init(ortLib(t)); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(model, ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inputs, err := dataset.ReadNpz(in)
	if err != nil {
		t.Fatal(err)
	}
	src, err := dataset.NewArraySource(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for eng, path := range outs {
		got, err := dataset.ReadNpz(path)
		if err != nil {
			t.Fatal(err)
		}
		y := got["Plus214_Output_0"]
		if len(got) != 1 || y == nil || !reflect.DeepEqual(y.Shape, []int64{n, 1, 10}) {
			t.Fatalf("%s: OUT.npz holds %v", eng, got)
		}
		var d evaluate.Diff
		for i := range n {
			sample, _ := src.Sample(i)
			want, err := s.Run(sample)
			if err != nil {
				t.Fatal(err)
			}
			row, _ := dataset.Row(y, i)
			if err := d.Add(row, want["Plus214_Output_0"]); err != nil {
				t.Fatal(err)
			}
		}
		// Logits reach thousands, summed from up to 6,400 float32 products;
		// reordering such a sum changes it by ~1e-5 of its magnitude at
		// worst. ORT against itself must be exact.
		limit := 1e-5
		if eng == "ort" {
			limit = 0
		}
		if d.MaxRel > limit || d.NaNs > 0 {
			t.Errorf("%s engine vs ONNX Runtime: %v", eng, d)
		}
		t.Logf("%s engine vs ONNX Runtime on %d MNIST samples: %v", eng, n, d)
	}
}
