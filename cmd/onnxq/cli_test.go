package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/internal/testdata"
)

// oneErrorLine checks that stderr is exactly one line "onnxq: ..."
// containing every string of want.
func oneErrorLine(t *testing.T, r result, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "onnxq: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Fatalf("stderr is not one line \"onnxq: ...\":\n%s", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line %q does not contain %q", lines[0], w)
		}
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr shows a Go panic: %s", r.stderr)
	}
}

func TestUserErrorsExit1WithOneLine(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("\x0a\xff\xff\xff\xff garbage, not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.onnx")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.onnx")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{"inspect", missing}, []string{missing, "no such file"}},
		{"garbage file", []string{"inspect", garbage}, []string{garbage, "not a valid ONNX"}},
		{"empty file", []string{"inspect", empty}, []string{empty, "empty"}},
		{"directory", []string{"inspect", dir}, []string{dir, "is a directory"}},
		{"unknown flag", []string{"inspect", "--bogus", missing}, []string{"unknown flag -bogus", "onnxq inspect --help"}},
		{"unknown flag after arg", []string{"inspect", missing, "--bogus"}, []string{"unknown flag -bogus", "onnxq inspect --help"}},
		{"unknown global flag", []string{"--bogus"}, []string{"unknown flag -bogus", "onnxq --help"}},
		{"no model", []string{"inspect"}, []string{"missing MODEL", "onnxq inspect --help"}},
		{"two models", []string{"inspect", "a.onnx", "b.onnx"}, []string{"one MODEL", "b.onnx"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "onnxq --help"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runBinary(t, tc.args...)
			if r.code != exitUser {
				t.Fatalf("exit code %d, want 1; stderr: %s", r.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("a failed command wrote to stdout: %q", r.stdout)
			}
			oneErrorLine(t, r, tc.want...)
			// The in-process run gives the same result.
			if ip := runInProcess(tc.args...); ip != r {
				t.Errorf("in-process run differs from the binary: %+v vs %+v", ip, r)
			}
		})
	}
}

func TestPanicIsAnInternalErrorExit2(t *testing.T) {
	var out, errb bytes.Buffer
	app := newApp(&out, &errb)
	app.Commands = append(app.Commands, &cli.Command{Name: "boom", Action: func(*cli.Context) error {
		var m map[string]int
		m["x"] = 1 // a real runtime panic: assignment to a nil map
		return nil
	}})
	t.Setenv("ONNXQ_DEBUG", "")
	code := runApp(app, []string{"onnxq", "boom"}, &errb)
	if code != exitInternal {
		t.Fatalf("exit code %d, want 2", code)
	}
	oneErrorLine(t, result{out.String(), errb.String(), code}, "internal error", "nil map", "report")
}

func TestVersion(t *testing.T) {
	r := runBinary(t, "--version")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--version: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "onnxq version dev (") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Fatalf("--version printed %q; want the version var and the Go version", r.stdout)
	}
}

func TestVersionFromLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "onnxq")
	out, err := execGo("build", "-ldflags", "-X main.version=v9.8.7", "-o", bin, ".")
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	saved := binary
	binary = bin
	defer func() { binary = saved }()
	if r := runBinary(t, "--version"); !strings.HasPrefix(r.stdout, "onnxq version v9.8.7 (go") {
		t.Fatalf("--version with -ldflags -X main.version=v9.8.7 printed %q", r.stdout)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	r := runBinary(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "inspect") || !strings.Contains(r.stdout, "--quiet") {
		t.Fatalf("onnxq --help: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.Name, "--help"}, {"help", c.Name}, {c.Name, "-h"}} {
			r := runBinary(t, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "onnxq "+c.Name) || !strings.Contains(r.stdout, "USAGE") {
				t.Errorf("onnxq %v: exit %d, stdout:\n%s\nstderr: %s", args, r.code, r.stdout, r.stderr)
			}
		}
	}
}

func TestReorderArgs(t *testing.T) {
	app := newApp(nil, nil)
	app.Commands = append(app.Commands, &cli.Command{Name: "take", Flags: []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}}, jsonFlag}})
	cases := []struct{ in, want []string }{
		{[]string{"onnxq"}, []string{"onnxq"}},
		{[]string{"onnxq", "inspect", "m.onnx", "--json"}, []string{"onnxq", "inspect", "--json", "--", "m.onnx"}},
		{[]string{"onnxq", "inspect", "--json", "m.onnx"}, []string{"onnxq", "inspect", "--json", "--", "m.onnx"}},
		{[]string{"onnxq", "inspect", "m.onnx", "-q"}, []string{"onnxq", "-q", "inspect", "--", "m.onnx"}},
		{[]string{"onnxq", "-q", "take", "a", "-o", "x.onnx", "b"}, []string{"onnxq", "-q", "take", "-o", "x.onnx", "--", "a", "b"}},
		{[]string{"onnxq", "take", "a", "--out=x", "--", "-weird"}, []string{"onnxq", "take", "--out=x", "--", "a", "-weird"}},
		{[]string{"onnxq", "take", "-", "--bogus"}, []string{"onnxq", "take", "--bogus", "--", "-"}},
		{[]string{"onnxq", "nosuch", "a", "--json"}, []string{"onnxq", "nosuch", "a", "--json"}},
		{[]string{"onnxq", "take", "--help"}, []string{"onnxq", "take", "--help"}},
	}
	for _, tc := range cases {
		if got := reorderArgs(app, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFlagsAfterTheModel(t *testing.T) {
	model := testdata.Path(t, testdata.RealModels["mnist-7"])
	before := runBinary(t, "inspect", "--json", model)
	after := runBinary(t, "inspect", model, "--json")
	if before.code != 0 || after.code != 0 {
		t.Fatalf("exit codes %d and %d; stderr %q %q", before.code, after.code, before.stderr, after.stderr)
	}
	if before.stdout != after.stdout || !strings.HasPrefix(after.stdout, "{") {
		t.Fatalf("--json after the model gives different output:\n%s\nvs\n%s", after.stdout, before.stdout)
	}
	quiet := runBinary(t, "inspect", model, "--json", "--quiet")
	if quiet.code != 0 || quiet.stdout != before.stdout {
		t.Fatalf("global --quiet after the command: exit %d, stderr %q", quiet.code, quiet.stderr)
	}
}
