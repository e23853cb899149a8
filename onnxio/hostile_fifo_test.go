//go:build unix

package onnxio_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// TestExternalDataFIFO checks that external data naming a named pipe is
// refused before it is opened: reading a pipe that nobody writes to would
// never end.
func TestExternalDataFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.data"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := modelWith(extTensor("location", "pipe.data"))
	p := writeModel(t, dir, "model.onnx", m)
	_, err := onnxio.Load(p)
	assertErr(t, err, `tensor initializer "ext_w": external data "pipe.data" is not a regular file but a named pipe`)
	_, err = graph.FromONNX(&onnxio.Model{Proto: m, Path: p, Dir: dir})
	assertErr(t, err, `external data "pipe.data" is not a regular file but a named pipe`)
}
