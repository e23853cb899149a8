//go:build !cgo

package ort

import (
	"errors"

	"github.com/onnxq/onnxq/graph"
)

// errNoCgo is what every ONNX Runtime call returns in a build without cgo.
var errNoCgo = errors.New("ONNX Runtime support needs a cgo build (this onnxq was built with CGO_ENABLED=0)")

// Init fails: ONNX Runtime support needs a cgo build.
func Init(libPath string) error { return errNoCgo }

// Version returns "": no library can be loaded.
func Version() string { return "" }

// Session is a model loaded into ONNX Runtime; without cgo none can be
// made.
type Session struct{}

// NewSession fails: ONNX Runtime support needs a cgo build.
func NewSession(path string, opts Options) (*Session, error) { return nil, errNoCgo }

// NewSessionFromBytes fails: ONNX Runtime support needs a cgo build.
func NewSessionFromBytes(name string, model []byte, opts Options) (*Session, error) {
	return nil, errNoCgo
}

// InputNames returns nil.
func (s *Session) InputNames() []string { return nil }

// OutputNames returns nil.
func (s *Session) OutputNames() []string { return nil }

// Close does nothing.
func (s *Session) Close() error { return nil }

// Run fails: ONNX Runtime support needs a cgo build.
func (s *Session) Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	return nil, errNoCgo
}
