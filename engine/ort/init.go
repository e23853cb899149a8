package ort

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

var (
	initMu sync.Mutex
	// loaded is the library Init loaded (nil before); sessions read it.
	loaded atomic.Pointer[library]
)

// Init loads the ONNX Runtime shared library from libPath, or from the path
// in $ONNXRUNTIME_LIB when libPath is empty, and creates the process's one
// ONNX Runtime environment. Calling it again with the same library (or with
// none) does nothing; a process can load only one library. It is safe to
// call from several goroutines.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	from := "--ort-lib"
	if libPath == "" {
		libPath, from = os.Getenv(LibraryEnv), "$"+LibraryEnv
	}
	lib := loaded.Load()
	if libPath == "" {
		if lib != nil {
			return nil
		}
		return fmt.Errorf("no ONNX Runtime library given: pass the path of libonnxruntime.so (--ort-lib) or set %s", LibraryEnv)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return fmt.Errorf("ONNX Runtime library %s (from %s): %v", libPath, from, err)
	}
	if lib != nil {
		if abs == lib.path || sameFile(abs, lib.path) {
			return nil
		}
		return fmt.Errorf("ONNX Runtime is already loaded from %s; it cannot be loaded from %s too", lib.path, abs)
	}
	if st, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ONNX Runtime library %s (from %s): no such file; set --ort-lib or %s to the path of libonnxruntime.so", abs, from, LibraryEnv)
	} else if err != nil {
		return fmt.Errorf("ONNX Runtime library %s (from %s): %v", abs, from, err)
	} else if st.IsDir() {
		return fmt.Errorf("ONNX Runtime library %s (from %s) is a folder, not the shared library file", abs, from)
	}
	lib, err = load(abs, fmt.Sprintf("%s (from %s)", abs, from), apiVersion)
	if err != nil {
		return err
	}
	loaded.Store(lib)
	return nil
}

// sameFile reports whether the paths a and b name one file (a link and
// its target).
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// Version returns the version of the loaded ONNX Runtime library ("" before
// Init).
func Version() string {
	if lib := loaded.Load(); lib != nil {
		return lib.version
	}
	return ""
}

// loadedLibrary returns the loaded library, or an error when Init has not
// succeeded.
func loadedLibrary() (*library, error) {
	if lib := loaded.Load(); lib != nil {
		return lib, nil
	}
	return nil, errors.New("ONNX Runtime is not loaded: call ort.Init first")
}
