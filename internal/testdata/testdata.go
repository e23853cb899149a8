// Package testdata locates the reference models and data sets that
// scripts/fetch-testdata.sh downloads, for tests and benchmarks.
//
// The folder is $ONNXQ_TESTDATA, or testdata/models/.cache at the
// repository root. A missing file fails the test with the command that
// fetches it: tests never skip for want of data.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the reference data folder.
func Dir() string {
	if d := os.Getenv("ONNXQ_TESTDATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "models", ".cache")
}

// Path returns the path of rel inside the reference data folder and fails
// tb if it does not exist.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("reference data %s is missing (%v): run scripts/fetch-testdata.sh", rel, err)
	}
	return p
}

// NodeTests returns the folders of the ONNX backend node tests
// (libonnx-testdata data/node/*), each holding model.onnx and
// test_data_set_*.
func NodeTests(tb testing.TB) []string {
	tb.Helper()
	root := Path(tb, "onnx-node")
	entries, err := os.ReadDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(p, "model.onnx")); err == nil {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) == 0 {
		tb.Fatalf("no ONNX node tests found in %s", root)
	}
	return dirs
}

// RealModels lists the reference models by short name and path relative to
// Dir: the models every user-facing path is tested on.
var RealModels = map[string]string{
	"mnist-7":         "mnist-7.onnx",
	"blazeface-front": "blazeface/face_detection_front_128x128_barracuda.onnx",
	"blazeface-back":  "blazeface/face_detection_back_256x256_barracuda.onnx",
	"ppocr-det":       "ppocr/ch_PP-OCRv4_det_infer.onnx",
}
