package testdata

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RepoRoot returns the repository's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ORTLib returns the ONNX Runtime library the tests use ($ONNXRUNTIME_LIB,
// or the one scripts/fetch-testdata.sh installs) and fails tb if it is
// missing.
func ORTLib(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	return Path(tb, "ort/libonnxruntime.so.1")
}

// CheckONNX runs the official ONNX checker (onnx.checker.check_model with
// full_check and strict shape inference, onnx 1.17 in the chroot that
// scripts/checker-env.sh builds) on the models and fails tb with its
// output if any is rejected. withORT also loads each model in ONNX Runtime
// 1.21 inside the chroot.
func CheckONNX(tb testing.TB, withORT bool, paths ...string) {
	tb.Helper()
	checker := os.Getenv("ONNXQ_CHECKER")
	if checker == "" {
		checker = filepath.Join(RepoRoot(), "scripts", "onnx-check")
	}
	args := []string{}
	if withORT {
		args = append(args, "--ort")
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			tb.Fatal(err)
		}
		args = append(args, abs)
	}
	cmd := exec.Command(checker, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("ONNX checker (%s) rejected the model(s): %v\n%s", checker, err, filterSchemaNoise(string(out)))
	}
}

func filterSchemaNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "Schema error") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
