package outpath_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/onnxq/onnxq/internal/outpath"
)

func write(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheck runs the policy on a folder laid out per case: refused plans
// must name the flag and say why; accepted plans must leave no trace.
func TestCheck(t *testing.T) {
	in := func(flag, p string) outpath.File { return outpath.File{Flag: flag, Path: p} }
	report := func(p string) outpath.File {
		return outpath.File{Flag: "--html", Path: p, Folder: true, Writes: []string{"index.html", "report.json", "*.svg"}}
	}
	cases := []struct {
		name string
		plan func(t *testing.T, d string) outpath.Plan
		want string // "" means accepted
	}{
		{"new output beside the model", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", write(t, d+"/m.onnx"))}, Outputs: []outpath.File{in("-o", d+"/q.onnx")}}
		}, ""},
		{"output is the model through ./ and ..", func(t *testing.T, d string) outpath.Plan {
			write(t, d+"/sub/x")
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", write(t, d+"/m.onnx"))}, Outputs: []outpath.File{in("-o", d+"/sub/../m.onnx")}}
		}, "-o " + "DIR/sub/../m.onnx would overwrite MODEL"},
		{"output is a symlink to an input", func(t *testing.T, d string) outpath.Plan {
			m := write(t, d+"/m.onnx")
			os.Symlink("m.onnx", d+"/l.onnx")
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", m)}, Outputs: []outpath.File{in("-o", d+"/l.onnx")}}
		}, "would overwrite MODEL"},
		{"input is a symlink to the output", func(t *testing.T, d string) outpath.Plan {
			m := write(t, d+"/m.onnx")
			os.Symlink("m.onnx", d+"/l.onnx")
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", d+"/l.onnx")}, Outputs: []outpath.File{in("-o", m)}}
		}, "would overwrite MODEL"},
		{"output is a hard link of an input", func(t *testing.T, d string) outpath.Plan {
			m := write(t, d+"/m.onnx")
			os.Link(m, d+"/h.onnx")
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", m)}, Outputs: []outpath.File{in("-o", d+"/h.onnx")}}
		}, "would overwrite MODEL"},
		{"output takes the name of a missing input", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Inputs: []outpath.File{in("--merge", d+"/s.json")}, Outputs: []outpath.File{in("-o", d+"/./s.json")}}
		}, "would overwrite --merge"},
		{"output inside an input folder", func(t *testing.T, d string) outpath.Plan {
			write(t, d+"/data/test_data_set_0/input_0.pb")
			return outpath.Plan{Inputs: []outpath.File{in("--data", d+"/data")}, Outputs: []outpath.File{in("-o", d+"/data/test_data_set_0/input_0.pb")}}
		}, "would write inside --data"},
		{"new output inside an input folder", func(t *testing.T, d string) outpath.Plan {
			os.Mkdir(d+"/images", 0o755)
			return outpath.Plan{Inputs: []outpath.File{in("--calib", d+"/images")}, Outputs: []outpath.File{in("-o", d+"/images/q.onnx")}}
		}, "would write inside --calib"},
		{"two outputs, one file", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Outputs: []outpath.File{in("-o", d+"/q.onnx"), in("--report", d+"/q.onnx")}}
		}, "--report DIR/q.onnx would overwrite -o DIR/q.onnx, which this command also writes"},
		{"output file among the report folder's files", func(t *testing.T, d string) outpath.Plan {
			os.Mkdir(d+"/html", 0o755)
			return outpath.Plan{Outputs: []outpath.File{report(d + "/html"), in("-o", d+"/html/index.html")}}
		}, "would overwrite --html"},
		{"report folder holding an input's name", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Inputs: []outpath.File{in("--config", write(t, d+"/r/report.json"))}, Outputs: []outpath.File{report(d + "/r")}}
		}, "--html DIR/r would overwrite --config"},
		{"report folder beside the inputs", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Inputs: []outpath.File{in("MODEL", write(t, d+"/m.onnx"))}, Outputs: []outpath.File{report(d)}}
		}, ""},
		{"report folder not there yet", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Outputs: []outpath.File{report(d + "/a/b")}}
		}, ""},
		{"report folder is a file", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Outputs: []outpath.File{report(write(t, d+"/r"))}}
		}, "is a regular file, not a folder"},
		{"output is a folder", func(t *testing.T, d string) outpath.Plan {
			os.Mkdir(d+"/q.onnx", 0o755)
			return outpath.Plan{Outputs: []outpath.File{in("-o", d+"/q.onnx")}}
		}, "is a folder; onnxq replaces only regular files"},
		{"output is a named pipe", func(t *testing.T, d string) outpath.Plan {
			syscall.Mkfifo(d+"/p", 0o644)
			return outpath.Plan{Outputs: []outpath.File{in("-o", d+"/p")}}
		}, "is a named pipe; onnxq replaces only regular files"},
		{"output is a socket", func(t *testing.T, d string) outpath.Plan {
			l, err := net.Listen("unix", d+"/s")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return outpath.Plan{Outputs: []outpath.File{in("-o", d+"/s")}}
		}, "is a socket"},
		{"output folder missing", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Outputs: []outpath.File{in("-o", d+"/nope/q.onnx")}}
		}, "folder DIR/nope does not exist"},
		{"output folder not writable", func(t *testing.T, d string) outpath.Plan {
			return outpath.Plan{Outputs: []outpath.File{in("-o", "/proc/q.onnx")}}
		}, "-o /proc/q.onnx: cannot write in folder /proc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			err := outpath.Check(c.plan(t, d))
			want := strings.ReplaceAll(c.want, "DIR", d)
			switch {
			case want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case want != "" && err == nil:
				t.Fatalf("accepted; want an error with %q", want)
			case want != "" && !strings.Contains(err.Error(), want):
				t.Fatalf("error %q does not contain %q", err, want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error is not one line: %q", err)
			}
			left, _ := filepath.Glob(filepath.Join(d, ".onnxq-write-check-*"))
			if len(left) > 0 {
				t.Fatalf("the writability check left %v", left)
			}
		})
	}
}

// TestTarget checks what an atomic write replaces: a symbolic link's
// target (keeping the link), with the replaced file's mode; and that
// nothing but a regular file is replaced.
func TestTarget(t *testing.T) {
	d := t.TempDir()
	f := filepath.Join(d, "f")
	if err := os.WriteFile(f, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(d, "l")); err != nil {
		t.Fatal(err)
	}
	target, perm, exists, err := outpath.Target(filepath.Join(d, "l"))
	if err != nil || target != f || perm != 0o640 || !exists {
		t.Fatalf("Target(link) = %q, %v, %v, %v; want %q, 0640, true", target, perm, exists, err, f)
	}
	if target, perm, exists, err = outpath.Target(filepath.Join(d, "new")); err != nil || perm != 0o666 || exists || target != filepath.Join(d, "new") {
		t.Fatalf("Target(new) = %q, %v, %v, %v", target, perm, exists, err)
	}
	if _, _, _, err := outpath.Target("/dev/null"); err == nil || !strings.Contains(err.Error(), "is a device") {
		t.Fatalf("Target(/dev/null): %v, want a refusal naming a device", err)
	}
}
