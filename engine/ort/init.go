//go:build cgo

package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"
)

var (
	initMu     sync.Mutex
	loadedPath string
)

// apiVersionHint explains the most likely cause of onnxruntime_go's
// "Error setting ORT API base: 2": the library is older than the C API the
// binding asks for (onnxruntime_go v1.27.0 requests ORT_API_VERSION 24,
// which ONNX Runtime 1.24 and later provide).
const apiVersionHint = " (onnxruntime_go v1.27.0 needs ONNX Runtime 1.24 or newer: it asks for C API version 24)"

// Init loads the ONNX Runtime shared library from libPath, or from the path
// in $ONNXRUNTIME_LIB when libPath is empty, and creates the runtime's
// environment. Calling it again with the same library (or with none) does
// nothing; a process can load only one library.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if libPath == "" {
		libPath = os.Getenv(LibraryEnv)
	}
	if libPath == "" {
		if ortgo.IsInitialized() {
			return nil
		}
		return fmt.Errorf("no ONNX Runtime library given: pass the path of libonnxruntime.so (--ort-lib) or set %s", LibraryEnv)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return err
	}
	if ortgo.IsInitialized() {
		if abs == loadedPath {
			return nil
		}
		return fmt.Errorf("ONNX Runtime is already loaded from %s; it cannot be loaded from %s too", loadedPath, abs)
	}
	if st, err := os.Stat(abs); err != nil {
		return fmt.Errorf("ONNX Runtime library: %w", err)
	} else if st.IsDir() {
		return fmt.Errorf("ONNX Runtime library %s is a folder, not the shared library file", abs)
	}
	ortgo.SetSharedLibraryPath(abs)
	if err := ortgo.InitializeEnvironment(); err != nil {
		msg := fmt.Sprintf("loading ONNX Runtime from %s: %v", abs, err)
		if strings.Contains(err.Error(), "ORT API base") {
			msg += apiVersionHint
		}
		return errors.New(msg)
	}
	loadedPath = abs
	return nil
}

// Version returns the version of the loaded ONNX Runtime library ("" before
// Init).
func Version() string {
	if !ortgo.IsInitialized() {
		return ""
	}
	return ortgo.GetVersion()
}
