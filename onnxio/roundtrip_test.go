package onnxio

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/internal/testdata"
)

// TestRoundTripNodeTests loads and saves every model of the ONNX backend
// node tests and checks that the bytes written are the bytes read.
func TestRoundTripNodeTests(t *testing.T) {
	dirs := testdata.NodeTests(t)
	out := t.TempDir()
	for _, d := range dirs {
		assertRoundTrip(t, filepath.Join(d, "model.onnx"), filepath.Join(out, "m.onnx"))
	}
	t.Logf("%d node-test models round-trip byte-identically", len(dirs))
}

// TestRoundTripRealModels does the same for the reference models.
func TestRoundTripRealModels(t *testing.T) {
	out := t.TempDir()
	for name, rel := range testdata.RealModels {
		t.Run(name, func(t *testing.T) {
			assertRoundTrip(t, testdata.Path(t, rel), filepath.Join(out, name+".onnx"))
		})
	}
}

func assertRoundTrip(t *testing.T, in, out string) {
	t.Helper()
	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(in)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := Save(m.Proto, out, SaveOptions{SourceDir: m.Dir}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, got) {
		t.Errorf("%s: saved %d bytes differ from the %d read", in, len(got), len(orig))
	}
}
