package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// envWithout returns this process's environment without the variable key.
func envWithout(key string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	return env
}

// TestStaticBinaryEvalORT runs ONNX Runtime from the CGO_ENABLED=0 onnxq
// (TestMain's binary), which loads the library at run time, and checks
// its results against onnxq's own engine: the same top-1 on 50 MNIST
// images, and logits within float32 summation-order noise.
func TestStaticBinaryEvalORT(t *testing.T) {
	lib := testdata.ORTLib(t)
	if out, err := exec.Command("go", "version", "-m", binary).CombinedOutput(); err != nil || !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Fatalf("the test binary is not a CGO_ENABLED=0 build: %v\n%s", err, out)
	}
	model := testdata.Path(t, "mnist-7.onnx")
	const n = 50
	data := writeMNISTNpz(t, n, "labels")
	withLib := append(envWithout(ort.LibraryEnv), ort.LibraryEnv+"="+lib)
	// --ort-lib wins over a wrong $ONNXRUNTIME_LIB.
	wrongEnv := append(envWithout(ort.LibraryEnv), ort.LibraryEnv+"=/nonexistent/libonnxruntime.so")
	evals := map[string]evalJSON{}
	for eng, env := range map[string][]string{"go": withLib, "ort": wrongEnv} {
		r := runBinaryEnv(t, env, "eval", model, "--data", data, "--engine", eng, "--ort-lib", lib, "--threads", "1", "--json", "--quiet")
		if r.code != exitOK {
			t.Fatalf("eval --engine %s: exit %d: %s", eng, r.code, r.stderr)
		}
		var e evalJSON
		if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
			t.Fatalf("eval --engine %s --json: %v\n%s", eng, err, r.stdout)
		}
		evals[eng] = e
	}
	g, o := evals["go"], evals["ort"]
	if o.Engine != "ort" || o.Samples != n || o.Top1Correct != g.Top1Correct || o.Top1Correct < n*9/10 {
		t.Errorf("ONNX Runtime from the static binary: %+v; Go engine: %+v", o, g)
	}
	t.Logf("%d MNIST images: top-1 %d correct on both engines", n, o.Top1Correct)

	// The logits themselves, through `onnxq run` ($ONNXRUNTIME_LIB only) on
	// the same images without the labels.
	data = writeMNISTNpz(t, n, "")
	outs := map[string]map[string]*graph.Tensor{}
	for _, eng := range []string{"go", "ort"} {
		out := filepath.Join(t.TempDir(), eng+".npz")
		r := runBinaryEnv(t, withLib, "run", model, "--data", data, "-o", out, "--engine", eng, "--threads", "1", "--quiet")
		if r.code != exitOK {
			t.Fatalf("run --engine %s: exit %d: %s", eng, r.code, r.stderr)
		}
		arrays, err := dataset.ReadNpz(out)
		if err != nil {
			t.Fatal(err)
		}
		outs[eng] = arrays
	}
	y, want := outs["ort"]["Plus214_Output_0"], outs["go"]["Plus214_Output_0"]
	if y == nil || want == nil || !reflect.DeepEqual(y.Shape, []int64{n, 1, 10}) || !reflect.DeepEqual(y.Shape, want.Shape) {
		t.Fatalf("OUT.npz: ort %v, go %v", y, want)
	}
	var d evaluate.Diff
	if err := d.Add(y, want); err != nil {
		t.Fatal(err)
	}
	// As in TestRunRoundTripAgainstORT: logits reach thousands, summed from
	// up to 6,400 float32 products; reordering such a sum changes it by
	// ~1e-5 of its magnitude at worst.
	if d.MaxRel > 1e-5 || d.NaNs > 0 {
		t.Errorf("static binary, ONNX Runtime vs Go engine: %v", d)
	}
	t.Logf("static binary, ONNX Runtime vs Go engine on %d samples: %v", n, d)
}

// TestStaticBinaryORTWithoutLibrary: without a usable library, eval and
// run --engine ort fail with one line naming the flag or variable the path
// came from, and exit code 1.
func TestStaticBinaryORTWithoutLibrary(t *testing.T) {
	model := testdata.Path(t, "mnist-7.onnx")
	data := writeMNISTNpz(t, 2, "labels")
	eval := []string{"eval", model, "--data", data, "--engine", "ort"}
	run := []string{"run", model, "--data", testdata.Path(t, "mnist-7"), "-o", filepath.Join(t.TempDir(), "o.npz"), "--engine", "ort"}
	unset := envWithout(ort.LibraryEnv)
	with := func(kv string) []string { return append(slices.Clip(unset), kv) }
	for name, tc := range map[string]struct {
		env  []string
		args []string
		want string
	}{
		"unset":         {unset, eval, "no ONNX Runtime library given: pass the path of libonnxruntime.so (--ort-lib) or set ONNXRUNTIME_LIB"},
		"empty":         {with(ort.LibraryEnv + "="), eval, "(--ort-lib) or set ONNXRUNTIME_LIB"},
		"wrong env":     {with(ort.LibraryEnv + "=/nonexistent/libonnxruntime.so"), eval, "ONNX Runtime library /nonexistent/libonnxruntime.so (from $ONNXRUNTIME_LIB): no such file"},
		"wrong flag":    {unset, append(slices.Clip(eval), "--ort-lib", "/nonexistent/lib.so"), "ONNX Runtime library /nonexistent/lib.so (from --ort-lib): no such file"},
		"not a library": {unset, append(slices.Clip(eval), "--ort-lib", model), "loading ONNX Runtime from " + model + " (from --ort-lib): invalid ELF header"},
		"run":           {unset, append(slices.Clip(run), "--ort-lib", "/nonexistent/lib.so"), "ONNX Runtime library /nonexistent/lib.so (from --ort-lib): no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runBinaryEnv(t, tc.env, tc.args...)
			if r.code != exitUser || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit 1 and nothing on stdout", r.code, r.stdout)
			}
			oneErrorLine(t, r, tc.want)
		})
	}
}
