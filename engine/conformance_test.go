package engine

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// The conformance suite runs the ONNX backend node tests (libonnx-testdata
// data/node: one model per test plus exact input and output TensorProto
// files). A test is "compiled" when every node of its model has a registry
// entry at the model's opset; testdata/conformance_claimed.txt lists the
// tests that pass, and the test fails when one of those regresses.
//
// Tolerance: the ONNX backend test runner compares with
// numpy.testing.assert_allclose(expected, actual, rtol=1e-3, atol=1e-7);
// this harness uses the same rule, |actual - expected| <= atol + rtol *
// |expected|, for every floating-point output (16- and 8-bit floats
// decoded to float32 first), with NaN equal to NaN and infinities equal
// only to themselves. Integer, bool and string outputs must match exactly.
const (
	conformanceRtol = 1e-3
	conformanceAtol = 1e-7
	claimedFile     = "testdata/conformance_claimed.txt"
)

var updateClaimed = flag.Bool("update", false, "rewrite "+claimedFile+" with the tests that pass now")

// nodeTestResult is the outcome of one node test.
type nodeTestResult struct {
	name     string
	compiled bool
	err      error // nil: passed (when compiled) or the compile error
}

func TestConformance(t *testing.T) {
	dirs := testdata.NodeTests(t)
	claimed, err := readClaimed()
	if err != nil {
		t.Fatal(err)
	}
	results := make([]nodeTestResult, len(dirs))
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < Threads(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = runConformanceCase(dirs[i])
			}
		}()
	}
	for i := range dirs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	byName := map[string]nodeTestResult{}
	var passing, compiledFailing, newlyPassing []string
	compiled := 0
	for _, r := range results {
		byName[r.name] = r
		if !r.compiled {
			continue
		}
		compiled++
		if r.err == nil {
			passing = append(passing, r.name)
			if !claimed[r.name] {
				newlyPassing = append(newlyPassing, r.name)
			}
		} else {
			compiledFailing = append(compiledFailing, fmt.Sprintf("%s: %v", r.name, r.err))
		}
	}
	for name := range claimed {
		r, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("claimed test %s no longer exists in the suite", name)
		case !r.compiled:
			t.Errorf("claimed test %s no longer compiles: %v", name, r.err)
		case r.err != nil:
			t.Errorf("claimed test %s fails: %v", name, r.err)
		}
	}
	sort.Strings(passing)
	sort.Strings(newlyPassing)
	sort.Strings(compiledFailing)
	t.Logf("ONNX node tests: %d passing, %d claimed, %d compiled, %d total", len(passing), len(claimed), compiled, len(dirs))
	if len(newlyPassing) > 0 {
		t.Logf("%d passing tests are not claimed yet (rerun with -update or ONNXQ_UPDATE_CLAIMED=1):\n  %s",
			len(newlyPassing), strings.Join(newlyPassing, "\n  "))
	}
	if missing := missingOps(results); missing != "" {
		t.Logf("%d tests do not compile; missing operators by number of tests: %s", len(dirs)-compiled, missing)
	}
	if len(compiledFailing) > 0 {
		t.Logf("%d compiled tests fail:\n  %s", len(compiledFailing), strings.Join(compiledFailing, "\n  "))
	}
	if *updateClaimed || os.Getenv("ONNXQ_UPDATE_CLAIMED") == "1" {
		if err := writeClaimed(passing); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d tests to %s", len(passing), claimedFile)
	}
}

// missingOps summarizes why tests do not compile: each unsupported
// problem with the number of tests it blocks, most frequent first.
func missingOps(results []nodeTestResult) string {
	count := map[string]int{}
	for _, r := range results {
		var u *Unsupported
		if r.compiled || !errors.As(r.err, &u) {
			continue
		}
		for _, p := range u.Problems {
			if i := strings.Index(p, " node "); i >= 0 {
				p = p[:i] // one entry per op, not per node
			}
			count[p]++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, count[k])
	}
	return strings.Join(parts, ", ")
}

func readClaimed() (map[string]bool, error) {
	f, err := os.Open(claimedFile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	claimed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			claimed[line] = true
		}
	}
	return claimed, sc.Err()
}

func writeClaimed(names []string) error {
	var b strings.Builder
	b.WriteString("# ONNX backend node tests (libonnx-testdata data/node) the engine passes.\n")
	b.WriteString("# Maintained by TestConformance: go test ./engine -run TestConformance -update\n")
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	return os.WriteFile(claimedFile, []byte(b.String()), 0o644)
}

// runConformanceCase loads, compiles and runs one node test on all its data sets.
// A panic in a kernel is reported as the test's failure.
func runConformanceCase(dir string) (res nodeTestResult) {
	res.name = filepath.Base(dir)
	defer func() {
		if p := recover(); p != nil {
			res.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	m, err := graph.FromFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		res.err = err
		return
	}
	prog, err := Compile(m)
	if err != nil {
		res.err = err
		return
	}
	res.compiled = true
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		res.err = fmt.Errorf("no test_data_set_* folders")
		return
	}
	for _, set := range sets {
		if err := runConformanceSet(prog, set); err != nil {
			res.err = fmt.Errorf("%s: %w", filepath.Base(set), err)
			return
		}
	}
	return
}

// runConformanceSet feeds input_N.pb to the model's non-initializer inputs in
// order and compares the outputs with output_N.pb.
func runConformanceSet(prog *Program, set string) error {
	g := prog.Model.Graph
	inputs := map[string]*graph.Tensor{}
	k := 0
	for _, v := range g.Inputs {
		if v.Const != nil {
			continue
		}
		p := filepath.Join(set, fmt.Sprintf("input_%d.pb", k))
		k++
		if _, err := os.Stat(p); err != nil {
			continue // an optional input the test leaves out
		}
		t, err := readTensorPB(p)
		if err != nil {
			return err
		}
		inputs[v.Name] = asBFloat16(t, v.ElemType())
	}
	outs, err := prog.Run(inputs, nil)
	if err != nil {
		return err
	}
	for i, v := range g.Outputs {
		want, err := readTensorPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			return err
		}
		if got := outs[v.Name]; got != nil {
			want = asBFloat16(want, got.DType)
		}
		if err := compareTensors(outs[v.Name], want); err != nil {
			return fmt.Errorf("output %d (%s): %w", i, v.Name, err)
		}
	}
	return nil
}

func readTensorPB(path string) (*graph.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := graph.TensorFromProto(tp, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// asBFloat16 reads a UINT16 tensor as BFLOAT16 when that is the type
// wanted: the node tests store bfloat16 data as uint16 bit patterns
// (numpy has no bfloat16).
func asBFloat16(t *graph.Tensor, want graph.DType) *graph.Tensor {
	if want == graph.BFloat16 && t.DType == graph.Uint16 {
		return &graph.Tensor{DType: graph.BFloat16, Shape: t.Shape, Data: t.Data}
	}
	return t
}

// compareTensors checks got against want with the suite's tolerance.
func compareTensors(got, want *graph.Tensor) error {
	if got == nil {
		return fmt.Errorf("not computed")
	}
	if got.DType != want.DType {
		return fmt.Errorf("type %s, want %s", got.DType, want.DType)
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if want.DType.IsFloat() {
		g, err := toFloat64s(got)
		if err != nil {
			return err
		}
		w, err := toFloat64s(want)
		if err != nil {
			return err
		}
		bad, worst := 0, -1
		for i := range w {
			if !closeEnough(g[i], w[i]) {
				if bad == 0 {
					worst = i
				}
				bad++
			}
		}
		if bad > 0 {
			return fmt.Errorf("%d of %d elements differ beyond rtol %g, atol %g; first at %d: got %v, want %v",
				bad, len(w), conformanceRtol, conformanceAtol, worst, g[worst], w[worst])
		}
		return nil
	}
	ops, err := opsFor(want.Data)
	if err != nil {
		return err
	}
	for i := 0; i < want.Len(); i++ {
		if !ops.equal(got.Data, i, want.Data, i) {
			return fmt.Errorf("element %d differs: got %v, want %v", i, elemString(got, i), elemString(want, i))
		}
	}
	return nil
}

func closeEnough(g, w float64) bool {
	switch {
	case math.IsNaN(w) || math.IsNaN(g):
		return math.IsNaN(w) && math.IsNaN(g)
	case math.IsInf(w, 0) || math.IsInf(g, 0):
		return g == w
	}
	return math.Abs(g-w) <= conformanceAtol+conformanceRtol*math.Abs(w)
}

func elemString(t *graph.Tensor, i int) string {
	ops, _ := opsFor(t.Data)
	one := ops.take(t.Data, []int{i})
	return fmt.Sprint(one)
}

// TestCompileListsAllUnsupported checks that a model with several
// unsupported operators fails Compile with one error naming all of them.
func TestCompileListsAllUnsupported(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 2, 3)
	y := b.Op("Relu", []*graph.Value{x}, nil)
	y = b.Op("FrobnicateA", []*graph.Value{y}, nil)
	y = b.Op("FrobnicateB", []*graph.Value{y}, nil)
	y = b.Op("Cast", []*graph.Value{y}, map[string]any{"to": int64(graph.Complex64)})
	b.Output(y)
	_, err := Compile(b.Model())
	var u *Unsupported
	if !errors.As(err, &u) {
		t.Fatalf("Compile error = %v, want *Unsupported", err)
	}
	if len(u.Problems) != 3 {
		t.Fatalf("got %d problems %q, want 3", len(u.Problems), u.Problems)
	}
	for _, want := range []string{"FrobnicateA (opset 13)", "FrobnicateB (opset 13)", "COMPLEX64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
