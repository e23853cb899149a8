package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// copyModel copies a reference model into dir and returns the copy's path,
// so a test can check that the command leaves its input alone.
func copyModel(t *testing.T, name, dir string) string {
	t.Helper()
	data, err := os.ReadFile(testdata.Path(t, testdata.RealModels[name]))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// mnistArrays returns n MNIST training images as mnist-7 takes them,
// stacked into one array of shape [n, 1, 1, 28, 28] (an .npz sample axis
// first).
func mnistArrays(t *testing.T, n int) *graph.Tensor {
	t.Helper()
	src, err := dataset.OpenMNIST(testdata.Path(t, "mnist/train-images-idx3-ubyte.gz"), dataset.MNISTPresets["mnist-7"])
	if err != nil {
		t.Fatal(err)
	}
	var rows []*graph.Tensor
	for i := 0; i < n; i++ {
		s, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, s["Input3"])
	}
	st, err := dataset.Stack(rows)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func writeNpz(t *testing.T, path string, arrays map[string]*graph.Tensor) string {
	t.Helper()
	if err := dataset.WriteNpz(path, arrays, dataset.NpzOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// leftovers lists the files of dir other than keep (temporary files an
// interrupted write would leave).
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	var out []string
	for _, e := range entries {
		if !kept[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestInsertQDQRejectsMismatchedData gives insert-qdq and calibrate
// calibration data that does not fit mnist-7 (input Input3, float
// [1,1,28,28]): a wrong array name, a wrong shape, a wrong element type,
// a NaN and an infinity. Each run must exit 1 with one error line naming
// the array, the sample and the model input, come from the check made
// before any work (the message of ptq.Prepare's validation, not of a
// calibration sample), write no output, and leave the input model's bytes
// unchanged.
func TestInsertQDQRejectsMismatchedData(t *testing.T) {
	dir := t.TempDir()
	model := copyModel(t, "mnist-7", dir)
	before := fileHash(t, model)
	good := mnistArrays(t, 8)

	withNaN := mnistArrays(t, 8)
	withNaN.Data.([]float32)[5*784+300] = float32(math.NaN()) // sample 5
	withInf := mnistArrays(t, 8)
	withInf.Data.([]float32)[7*784+3] = float32(math.Inf(-1)) // sample 7, the last
	wrongShape, err := graph.NewTensor(graph.Float, []int64{8, 1, 1, 28, 27}, make([]float32, 8*28*27))
	if err != nil {
		t.Fatal(err)
	}
	f64 := make([]float64, good.Len())
	for i, v := range good.Data.([]float32) {
		f64[i] = float64(v)
	}
	wrongType, err := graph.NewTensor(graph.Double, good.Shape, f64)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		arrays map[string]*graph.Tensor
		want   []string
	}{
		{"wrong name", map[string]*graph.Tensor{"input": good}, []string{`"input"`, `"Input3"`, "sample 0"}},
		{"wrong shape", map[string]*graph.Tensor{"Input3": wrongShape}, []string{`"Input3"`, "sample 0", "[1 1 28 27]", "[1,1,28,28]"}},
		{"wrong dtype", map[string]*graph.Tensor{"Input3": wrongType}, []string{`"Input3"`, "sample 0", "DOUBLE", "FLOAT"}},
		{"NaN", map[string]*graph.Tensor{"Input3": withNaN}, []string{`"Input3"`, "sample 5", "NaN", "[0 0 10 20]"}},
		{"Inf", map[string]*graph.Tensor{"Input3": withInf}, []string{`"Input3"`, "sample 7", "-Inf"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			npz := writeNpz(t, filepath.Join(t.TempDir(), "calib.npz"), tc.arrays)
			outDir := t.TempDir()
			out := filepath.Join(outDir, "q.onnx")
			for _, args := range [][]string{
				{"insert-qdq", model, "--calib", npz, "-o", out, "--report", filepath.Join(outDir, "r.json")},
				{"calibrate", model, "--calib", npz, "-o", filepath.Join(outDir, "stats.json")},
			} {
				r := runInProcess(args...)
				if r.code != exitUser {
					t.Fatalf("onnxq %s: exit code %d, want 1; stderr: %s", args[0], r.code, r.stderr)
				}
				oneErrorLine(t, r, append([]string{"does not fit the model"}, tc.want...)...)
				t.Logf("onnxq %s: %s", args[0], strings.TrimSpace(r.stderr))
				if left := leftovers(t, outDir); len(left) > 0 {
					t.Errorf("onnxq %s failed but left %v in the output folder", args[0], left)
				}
			}
			if fileHash(t, model) != before {
				t.Fatalf("the input model changed")
			}
		})
	}
}

// TestInsertQDQOutputSafety checks how insert-qdq treats files: the input
// model is never modified (hash before and after a successful run), -o
// naming the input (also spelt differently) is refused before anything is
// read, as are --report and calibrate's -o naming the model (or the
// output, or a shard being merged), and the output is written atomically: when writing fails (the
// output path is a folder, or its folder cannot be written) no partial
// or temporary file is left, and an existing output file is kept intact
// when the run fails.
func TestInsertQDQOutputSafety(t *testing.T) {
	dir := t.TempDir()
	model := copyModel(t, "mnist-7", dir)
	before := fileHash(t, model)
	calib := []string{"--calib", testdata.Path(t, "mnist/train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7", "--limit", "20"}
	insert := func(out string, extra ...string) result {
		return runInProcess(append(append([]string{"insert-qdq", model, "-o", out}, calib...), extra...)...)
	}

	t.Run("success leaves the input alone", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "q.onnx")
		if r := insert(out); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if fileHash(t, model) != before {
			t.Fatal("insert-qdq modified its input model")
		}
		testdata.Written(t, out)
	})

	t.Run("output equal to input", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{model, filepath.Join(sub, "..", filepath.Base(model))} {
			r := insert(out)
			if r.code != exitUser {
				t.Fatalf("-o %s: exit %d, want 1", out, r.code)
			}
			oneErrorLine(t, r, "overwrite the input model")
		}
		// The other files a run writes must not land on the model either
		// (nor on each other, nor on a shard a merge reads).
		q := filepath.Join(t.TempDir(), "q.onnx")
		shard := filepath.Join(t.TempDir(), "shard.json")
		for _, args := range [][]string{
			append([]string{"insert-qdq", model, "-o", q, "--report", model}, calib...),
			append([]string{"insert-qdq", model, "-o", q, "--report", q}, calib...),
			append([]string{"calibrate", model, "-o", filepath.Join(sub, "..", filepath.Base(model))}, calib...),
			{"calibrate", "--merge", shard + "," + shard, "-o", shard},
		} {
			r := runInProcess(args...)
			if r.code != exitUser {
				t.Fatalf("onnxq %s: exit %d, want 1; stderr %s", strings.Join(args, " "), r.code, r.stderr)
			}
			oneErrorLine(t, r, "would overwrite", "choose another file")
		}
		if _, err := os.Stat(q); err == nil {
			t.Errorf("a refused run wrote %s", q)
		}
		if fileHash(t, model) != before {
			t.Fatal("the input model changed")
		}
	})

	t.Run("output is a folder", func(t *testing.T) {
		parent := t.TempDir()
		out := filepath.Join(parent, "q.onnx")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		r := insert(out)
		if r.code != exitUser {
			t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
		}
		oneErrorLine(t, r, "q.onnx")
		if left := leftovers(t, parent, "q.onnx"); len(left) > 0 {
			t.Errorf("a failed write left %v", left)
		}
		if st, err := os.Stat(out); err != nil || !st.IsDir() {
			t.Errorf("the folder at the output path was replaced: %v", err)
		}
	})

	t.Run("unwritable folder", func(t *testing.T) {
		parent := t.TempDir()
		if os.Geteuid() == 0 {
			// root writes into folders without write permission; /proc
			// takes no new files from anyone.
			parent = "/proc"
		} else if err := os.Chmod(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(parent, "onnxq-test-q.onnx")
		r := insert(out)
		if r.code != exitUser {
			t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
		}
		oneErrorLine(t, r, parent)
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s exists after a failed write", out)
		}
	})

	t.Run("existing output survives a failed run", func(t *testing.T) {
		outDir := t.TempDir()
		out := filepath.Join(outDir, "q.onnx")
		old := []byte("the previous output")
		if err := os.WriteFile(out, old, 0o644); err != nil {
			t.Fatal(err)
		}
		bad := writeNpz(t, filepath.Join(t.TempDir(), "bad.npz"), map[string]*graph.Tensor{"nope": mnistArrays(t, 2)})
		r := runInProcess("insert-qdq", model, "--calib", bad, "-o", out)
		if r.code != exitUser {
			t.Fatalf("exit %d, want 1", r.code)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, old) {
			t.Errorf("the existing output was changed by a failed run")
		}
		if left := leftovers(t, outDir, "q.onnx"); len(left) > 0 {
			t.Errorf("a failed run left %v", left)
		}
	})
}

// TestShardedCalibrationIsDeterministic checks that calibration split into
// shards (onnxq calibrate --offset/--limit on parts of the data, then
// calibrate --merge) and insert-qdq --stats give the same model, byte for
// byte, as one insert-qdq run over all the data, and that two identical
// insert-qdq runs write identical models and reports. Histogram-based
// methods (entropy, percentile) are included: shard histograms merge
// exactly. (moving-average is not: its sums of per-batch extremes are
// added in another order when merged.)
func TestShardedCalibrationIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	mnist := []string{"--calib", testdata.Path(t, "mnist/train-images-idx3-ubyte.gz"), "--preprocess", "mnist-7"}
	images := []string{"--calib", testdata.Path(t, "images"), "--preprocess", "blazeface-front"}
	cases := []struct {
		name, model string
		data        []string
		method      string
		shards      [][2]int // offset, limit
	}{
		{"mnist-7 minmax", "mnist-7", mnist, "minmax", [][2]int{{0, 40}, {40, 40}, {80, 40}}},
		{"mnist-7 entropy", "mnist-7", mnist, "entropy", [][2]int{{0, 40}, {40, 40}, {80, 40}}},
		{"mnist-7 percentile", "mnist-7", mnist, "percentile", [][2]int{{0, 60}, {60, 60}}},
		{"blazeface-front minmax", "blazeface-front", images, "minmax", [][2]int{{0, 4}, {4, 6}}},
	}
	byMethod := map[[32]byte]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			model := copyModel(t, tc.model, dir)
			total := tc.shards[len(tc.shards)-1][0] + tc.shards[len(tc.shards)-1][1]
			run := func(args ...string) {
				t.Helper()
				if r := runInProcess(append(args, "-q")...); r.code != 0 {
					t.Fatalf("onnxq %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
				}
			}
			method := []string{"--method", tc.method}
			limit := []string{"--limit", fmt.Sprint(total)}
			insert := func(name string, extra ...string) (written, report []byte) {
				t.Helper()
				p, rp := filepath.Join(out, name+".onnx"), filepath.Join(out, name+".json")
				args := append(append(append(append([]string{"insert-qdq", model, "-o", p, "--report", rp}, tc.data...), method...), limit...), extra...)
				run(args...)
				m, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				r, err := os.ReadFile(rp)
				if err != nil {
					t.Fatal(err)
				}
				return m, r
			}
			once, onceReport := insert("once")
			again, againReport := insert("again")
			if !bytes.Equal(once, again) {
				t.Errorf("two identical insert-qdq runs wrote different models (%d and %d bytes)", len(once), len(again))
			}
			if !bytes.Equal(onceReport, againReport) {
				t.Errorf("two identical insert-qdq runs wrote different reports")
			}
			var shards []string
			for i, s := range tc.shards {
				p := filepath.Join(out, fmt.Sprintf("shard%d.json", i))
				run(append(append([]string{"calibrate", model, "-o", p, "--offset", fmt.Sprint(s[0]), "--limit", fmt.Sprint(s[1])}, tc.data...), method...)...)
				shards = append(shards, p)
			}
			merged := filepath.Join(out, "merged.json")
			run("calibrate", "--merge", strings.Join(shards, ","), "-o", merged)
			sharded, shardedReport := insert("sharded", "--stats", merged)
			if !bytes.Equal(once, sharded) {
				t.Errorf("insert-qdq --stats of %d merged shards wrote a different model than one run over the %d samples (%d and %d bytes)", len(tc.shards), total, len(sharded), len(once))
			}
			if !bytes.Equal(onceReport, shardedReport) {
				t.Errorf("the reports of the sharded and the single run differ")
			}
			t.Logf("%d shards merged: model of %d bytes identical to one run over %d samples", len(tc.shards), len(once), total)
			// The comparison can tell calibrations apart: each method
			// gives another model.
			h := sha256.Sum256(once)
			if other, dup := byMethod[h]; dup {
				t.Errorf("%s and %s wrote the same model", tc.name, other)
			}
			byMethod[h] = tc.name
			testdata.Written(t, filepath.Join(out, "once.onnx"))
		})
	}
}
