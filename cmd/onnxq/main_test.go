package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the onnxq executable built once by TestMain, for the tests
// that check real process behaviour (exit codes, stderr).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onnxq-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "onnxq")
	if out, err := execGo("build", "-o", binary, "."); err != nil {
		fmt.Fprintf(os.Stderr, "building onnxq for the tests failed: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// execGo runs the go command on this package with CGO_ENABLED=0 (the
// static binary the README promises).
func execGo(args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd.CombinedOutput()
}

// result is what one run of onnxq produced.
type result struct {
	stdout, stderr string
	code           int
}

// runInProcess runs the CLI in this process with captured output.
func runInProcess(args ...string) result {
	var out, errb bytes.Buffer
	code := run(append([]string{"onnxq"}, args...), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// runBinary runs the built executable as a subprocess.
func runBinary(t *testing.T, args ...string) result {
	t.Helper()
	return runBinaryEnv(t, os.Environ(), args...)
}

// runBinaryEnv runs the built executable as a subprocess with the
// environment env.
func runBinaryEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", binary, err)
	}
	return result{out.String(), errb.String(), code}
}
