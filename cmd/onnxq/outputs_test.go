package main

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// outputsFixture is a folder with the files the commands of
// TestOutputsNeverOverwriteInputs read: mnist-7 (model.onnx), 8
// calibration images (calib.npz), 8 labelled images (eval.npz), mnist-7
// with its weights as external data (ext/model.onnx, ext/model.onnx.data),
// a named pipe and a device (a null device made with mknod when the test
// runs as root; /dev/null itself otherwise, which only root could replace).
type outputsFixture struct {
	dir, model, calib, eval, extModel, extData, fifo, device string
}

func newOutputsFixture(t *testing.T) *outputsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &outputsFixture{dir: dir, model: copyModel(t, "mnist-7", dir)}
	f.calib = writeNpz(t, filepath.Join(dir, "calib.npz"), map[string]*graph.Tensor{"Input3": mnistArrays(t, 8)})
	ev := writeMNISTNpz(t, 8, "labels")
	f.eval = filepath.Join(dir, "eval.npz")
	if err := os.Rename(ev, f.eval); err != nil {
		t.Fatal(err)
	}
	m, err := onnxio.Load(f.model)
	if err != nil {
		t.Fatal(err)
	}
	ext := filepath.Join(dir, "ext")
	if err := os.Mkdir(ext, 0o755); err != nil {
		t.Fatal(err)
	}
	f.extModel, f.extData = filepath.Join(ext, "model.onnx"), filepath.Join(ext, "model.onnx.data")
	if err := onnxio.Save(m.Proto, f.extModel, onnxio.SaveOptions{ExternalThreshold: 1024}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.extData); err != nil {
		t.Fatalf("the external data model has no data file: %v", err)
	}
	f.fifo = filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(f.fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	f.device = "/dev/null"
	if os.Geteuid() == 0 {
		f.device = filepath.Join(dir, "null")
		if err := syscall.Mknod(f.device, syscall.S_IFCHR|0o666, int(mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// mkdev is the device number of major and minor (Linux encoding).
func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

// fileState is what a protected path must keep: its bytes and its kind.
type fileState struct {
	mode fs.FileMode
	hash [32]byte
}

func stateOf(t *testing.T, p string) fileState {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	s := fileState{mode: st.Mode()}
	if st.Mode().IsRegular() {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s.hash = sha256.Sum256(b)
	}
	return s
}

// TestOutputsNeverOverwriteInputs runs each command with an output path
// that is one of its inputs (by path, by symbolic link, by hard link, as
// external data), another of its outputs, or a file that is not a regular
// one. Each run must exit 1 before any work with one error line naming the
// flag, and leave every input and special file as it was. Before the
// output-path policy (internal/outpath), every case exited 0 and replaced
// the file: the model by an .npz or JSON, the data by a model, the FIFO
// and the device by regular files.
func TestOutputsNeverOverwriteInputs(t *testing.T) {
	calibArgs := func(f *outputsFixture) []string { return []string{"--calib", f.calib} }
	cases := []struct {
		name string
		// args builds the command line; protect lists what must not change.
		args    func(f *outputsFixture) []string
		protect func(f *outputsFixture) []string
		want    []string
	}{
		{"run -o MODEL", func(f *outputsFixture) []string { return []string{"run", f.model, "-d", f.calib, "-o", f.model} },
			nil, []string{"-o", "would overwrite the input model"}},
		{"run -o DATA", func(f *outputsFixture) []string { return []string{"run", f.model, "-d", f.calib, "-o", f.calib} },
			nil, []string{"-o", "would overwrite --data"}},
		{"run -o a symlink to DATA", func(f *outputsFixture) []string {
			link := filepath.Join(f.dir, "link.npz")
			if err := os.Symlink(f.calib, link); err != nil {
				panic(err)
			}
			return []string{"run", f.model, "-d", f.calib, "-o", link}
		}, nil, []string{"link.npz", "would overwrite --data"}},
		{"calibrate -o DATA", func(f *outputsFixture) []string {
			return append([]string{"calibrate", f.model, "-o", f.calib}, calibArgs(f)...)
		}, nil, []string{"-o", "would overwrite --calib"}},
		{"insert-qdq -o DATA", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.model, "-o", f.calib}, calibArgs(f)...)
		}, nil, []string{"-o", "would overwrite --calib"}},
		{"insert-qdq --report DATA", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.model, "-o", filepath.Join(f.dir, "q.onnx"), "--report", f.calib}, calibArgs(f)...)
		}, nil, []string{"--report", "would overwrite --calib"}},
		{"insert-qdq -o a hard link of MODEL", func(f *outputsFixture) []string {
			hl := filepath.Join(f.dir, "hardlink.onnx")
			if err := os.Link(f.model, hl); err != nil {
				panic(err)
			}
			return append([]string{"insert-qdq", f.model, "-o", hl}, calibArgs(f)...)
		}, nil, []string{"hardlink.onnx", "would overwrite the input model"}},
		{"insert-qdq -o the external data of MODEL", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.extModel, "-o", f.extData}, calibArgs(f)...)
		}, nil, []string{"-o", "would overwrite the external data of"}},
		{"insert-qdq --save-config MODEL", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.model, "--min-sqnr", "10", "-o", filepath.Join(f.dir, "q.onnx"), "--save-config", f.model}, calibArgs(f)...)
		}, nil, []string{"--save-config", "would overwrite the input model"}},
		{"insert-qdq --save-config OUTPUT", func(f *outputsFixture) []string {
			q := filepath.Join(f.dir, "q.onnx")
			return append([]string{"insert-qdq", f.model, "--min-sqnr", "10", "-o", q, "--save-config", q}, calibArgs(f)...)
		}, nil, []string{"--save-config", "would overwrite -o", "also writes"}},
		{"quantize --calib C -o C", func(f *outputsFixture) []string {
			return append([]string{"quantize", f.model, "-o", f.calib}, calibArgs(f)...)
		}, nil, []string{"-o", "would overwrite --calib"}},
		{"quantize --eval E -o E", func(f *outputsFixture) []string {
			return append([]string{"quantize", f.model, "--eval", f.eval, "-o", f.eval}, calibArgs(f)...)
		}, nil, []string{"-o", "would overwrite --eval"}},
		{"finetune -o DATA", func(f *outputsFixture) []string {
			return []string{"finetune", f.model, "--data", f.calib, "-o", f.calib, "--max-steps", "1"}
		}, nil, []string{"-o", "would overwrite --data"}},
		{"finetune --checkpoint MODEL", func(f *outputsFixture) []string {
			return []string{"finetune", f.model, "--data", f.calib, "-o", filepath.Join(f.dir, "q.onnx"), "--max-steps", "1", "--checkpoint", f.model}
		}, nil, []string{"--checkpoint", "would overwrite the input model"}},
		{"insert-qdq -o a named pipe", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.model, "-o", f.fifo}, calibArgs(f)...)
		}, func(f *outputsFixture) []string { return []string{f.fifo} }, []string{"-o", "is a named pipe", "only regular files"}},
		{"insert-qdq -o a symlink to a named pipe", func(f *outputsFixture) []string {
			link := filepath.Join(f.dir, "stdout-like")
			if err := os.Symlink(f.fifo, link); err != nil {
				panic(err)
			}
			return append([]string{"insert-qdq", f.model, "-o", link}, calibArgs(f)...)
		}, func(f *outputsFixture) []string { return []string{f.fifo, filepath.Join(f.dir, "stdout-like")} }, []string{"is a named pipe"}},
		{"insert-qdq -o a device", func(f *outputsFixture) []string {
			return append([]string{"insert-qdq", f.model, "-o", f.device}, calibArgs(f)...)
		}, func(f *outputsFixture) []string { return []string{f.device} }, []string{"-o", "is a device", "only regular files"}},
		{"run -o a device", func(f *outputsFixture) []string { return []string{"run", f.model, "-d", f.calib, "-o", f.device} },
			func(f *outputsFixture) []string { return []string{f.device} }, []string{"-o", "is a device"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newOutputsFixture(t)
			protect := []string{f.model, f.calib, f.eval, f.extModel, f.extData}
			if tc.protect != nil {
				protect = append(protect, tc.protect(f)...)
			}
			args := tc.args(f)
			before := map[string]fileState{}
			for _, p := range protect {
				before[p] = stateOf(t, p)
			}
			r := runInProcess(append([]string{"--quiet"}, args...)...)
			for _, p := range protect {
				if got := stateOf(t, p); got != before[p] {
					t.Errorf("%s changed (mode %v -> %v)", p, before[p].mode, got.mode)
				}
			}
			if r.code != exitUser {
				t.Fatalf("onnxq %s: exit %d, want 1; stderr %s", strings.Join(args, " "), r.code, r.stderr)
			}
			oneErrorLine(t, r, tc.want...)
			if _, err := os.Stat(filepath.Join(f.dir, "q.onnx")); err == nil {
				t.Errorf("a refused run wrote q.onnx")
			}
		})
	}
}

// TestOutputModes checks the permissions of written files: a new output
// gets 0666 less the umask (under umask 077: 0600), and a file replaced
// keeps its mode (a 0600 output stays 0600). Before, every output was
// chmod-ed to 0644, readable by everyone whatever the umask.
func TestOutputModes(t *testing.T) {
	f := newOutputsFixture(t)
	out := filepath.Join(t.TempDir(), "out.npz")
	cmd := exec.Command("sh", "-c", `umask 077 && exec "$0" "$@"`, binary, "--quiet", "run", f.model, "-d", f.calib, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run under umask 077: %v\n%s", err, b)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("a new output under umask 077 has mode %v (%v), want -rw-------", st.Mode().Perm(), err)
	}
	if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o640); err != nil {
		t.Fatal(err)
	}
	if r := runInProcess("--quiet", "run", f.model, "-d", f.calib, "-o", out); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("a replaced 0640 output has mode %v (%v), want -rw-r-----", st.Mode().Perm(), err)
	}
	if b, _ := os.ReadFile(out); string(b) == "old" {
		t.Fatal("the output was not replaced")
	}
}

// TestOutputFolderCheckedBeforeWork gives finetune an output in a folder
// it cannot write and a checkpoint in one it can: the run must be refused
// before training, so no checkpoint may exist afterwards. Before, the
// folder was found unwritable only when the model was saved, after every
// epoch had run and written its checkpoint.
func TestOutputFolderCheckedBeforeWork(t *testing.T) {
	f := newOutputsFixture(t)
	parent := t.TempDir()
	if os.Geteuid() == 0 {
		parent = "/proc" // root writes anywhere else; /proc takes no new files
	} else if err := os.Chmod(parent, 0o555); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "train.ckpt")
	r := runInProcess("--quiet", "finetune", f.model, "--data", f.calib, "-o", filepath.Join(parent, "onnxq-q.onnx"),
		"--checkpoint", ckpt, "--epochs", "1", "--batch-size", "4")
	if r.code != exitUser {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	oneErrorLine(t, r, "-o", "cannot write in folder "+parent)
	if _, err := os.Stat(ckpt); err == nil {
		t.Fatalf("training ran (it wrote %s) before the output folder was found unwritable", ckpt)
	}
}
