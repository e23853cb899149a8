//go:build !cgo

package ort

import (
	"strings"
	"testing"
)

// TestNoCgo checks that a static build says why ONNX Runtime is missing.
func TestNoCgo(t *testing.T) {
	for name, err := range map[string]error{
		"Init": Init("libonnxruntime.so"),
		"NewSession": func() error {
			_, err := NewSession("model.onnx", Options{})
			return err
		}(),
		"Run": func() error {
			_, err := (&Session{}).Run(nil)
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "needs a cgo build") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
