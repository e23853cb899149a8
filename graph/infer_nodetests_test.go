package graph

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

var inferUpdate = flag.Bool("infer.update", false, "rewrite graph/testdata/infer_passing.txt from this run")

const inferPassingFile = "testdata/infer_passing.txt"

// TestInferNodeTests runs InferShapes on every ONNX backend node test whose
// ops all have a rule, with the types of all node outputs removed, and
// compares each graph output's inferred type with the type the model
// declares and with the expected output tensor of test_data_set_0.
//
// Many node tests take shape-like operands (Reshape's shape, Slice's
// starts, Resize's scales) as graph inputs, so their output shapes depend
// on input values. When types alone leave an output shape open, the test
// is run again with the graph inputs turned into constants holding the
// values of test_data_set_0 (which exercises constant propagation); such
// tests are listed with the suffix " values".
//
// The tests listed in testdata/infer_passing.txt must pass; run with
// -infer.update to rewrite the list.
func TestInferNodeTests(t *testing.T) {
	var covered, passed []string
	byTypes := 0
	failures := map[string]string{}
	for _, dir := range testdata.NodeTests(t) {
		name := filepath.Base(dir)
		m := loadNodeTest(t, dir, false)
		if !inferCovers(m) {
			continue
		}
		covered = append(covered, name)
		msg, open := checkNodeTestInference(dir, m)
		if msg == "" {
			byTypes++
			passed = append(passed, name)
			continue
		}
		if open {
			if msg = checkValues(dir, loadNodeTest(t, dir, true)); msg == "" {
				passed = append(passed, name+" values")
				continue
			}
		}
		failures[name] = msg
	}
	t.Logf("node tests: %d covered by inference rules, %d pass (%d from types alone, %d given the input values)",
		len(covered), len(passed), byTypes, len(passed)-byTypes)
	var names []string
	for name := range failures {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("not passing: %s: %s", name, failures[name])
	}
	if *inferUpdate {
		text := "# Node tests whose outputs InferShapes types exactly (go test ./graph -run TestInferNodeTests -infer.update)\n" +
			"# \"values\": given the values of the graph inputs as constants\n" + strings.Join(passed, "\n") + "\n"
		if err := os.WriteFile(inferPassingFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readPassingList(t)
	for _, entry := range want {
		name := strings.TrimSuffix(entry, " values")
		switch {
		case slices.Contains(passed, entry):
		case slices.Contains(passed, name):
			// passes from types alone now: better than listed
		case !slices.Contains(covered, name):
			t.Errorf("regression: %s is no longer covered by the inference rules", name)
		default:
			t.Errorf("regression: %s no longer passes: %s", entry, failures[name])
		}
	}
	if extra := len(passed) - len(want); extra > 0 {
		t.Logf("%d more tests pass than %s lists: rerun with -infer.update", extra, inferPassingFile)
	}
}

// TestInferAgreesWithNodeTestTypes runs InferShapes on every node test
// model (covered or not) as the file declares it: inference must accept
// every declared type (it never contradicts a correct model) and must not
// fail on ops it has no rule for.
func TestInferAgreesWithNodeTestTypes(t *testing.T) {
	for _, dir := range testdata.NodeTests(t) {
		m := loadNodeTest(t, dir, false)
		if err := InferShapes(m); err != nil {
			t.Errorf("%s: %v", filepath.Base(dir), err)
		}
	}
}

func checkValues(dir string, m *Model) string {
	msg, _ := checkNodeTestInference(dir, m)
	if msg != "" {
		msg = "given the input values: " + msg
	}
	return msg
}

// loadNodeTest loads a node test's model; withValues makes each graph input
// a constant holding its value in test_data_set_0.
func loadNodeTest(t *testing.T, dir string, withValues bool) *Model {
	m, err := FromFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if withValues {
		for i, v := range m.Graph.Inputs {
			if v.Const != nil {
				continue
			}
			x, err := readTensorPB(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				t.Fatal(err)
			}
			v.Const = x
		}
	}
	return m
}

func readPassingList(t *testing.T) []string {
	f, err := os.Open(inferPassingFile)
	if err != nil {
		t.Fatalf("%v (create it with go test ./graph -run TestInferNodeTests -infer.update)", err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
}

// inferCovers reports whether every op of m has an inference rule and all
// graph outputs are declared as tensors.
func inferCovers(m *Model) bool {
	ok := m.Graph.Walk(func(n *Node) bool { return InferSupported(n.Domain, n.OpType) })
	for _, v := range m.Graph.Outputs {
		ok = ok && v.Type.GetTensorType() != nil
	}
	return ok
}

// clearInferredTypes removes the types of all node outputs in m's graphs.
func clearInferredTypes(m *Model) {
	m.Graph.Walk(func(n *Node) bool {
		for _, v := range n.Outputs {
			if v != nil {
				v.Type = nil
			}
		}
		return true
	})
}

// checkNodeTestInference infers m with node output types removed and
// returns what differs from the declared and the expected outputs ("" when
// all match); open is true when the only problem is outputs whose shape
// stays partly unknown.
func checkNodeTestInference(dir string, m *Model) (msg string, open bool) {
	declared := make([]typeInfo, len(m.Graph.Outputs))
	for i, v := range m.Graph.Outputs {
		declared[i], _ = typeInfoOf(v)
	}
	clearInferredTypes(m)
	if err := InferShapes(m); err != nil {
		return "InferShapes: " + err.Error(), false
	}
	var problems []string
	open = true
	for i, v := range m.Graph.Outputs {
		got, _ := typeInfoOf(v)
		shape, ok := got.static()
		if !ok {
			problems = append(problems, fmt.Sprintf("output %q: inferred %s is not static", v.Name, got))
			continue
		}
		open = false
		if got.dt != declared[i].dt || (declared[i].ranked && !got.equal(declared[i])) {
			problems = append(problems, fmt.Sprintf("output %q: inferred %s, declared %s", v.Name, got, declared[i]))
		}
		want, err := readTensorPB(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("output_%d.pb", i)))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		// The node tests of ONNX 1.12 store BFLOAT16 outputs as UINT16
		// tensors (the same bits); the model declares BFLOAT16.
		if want.DType == Uint16 && got.dt == BFloat16 {
			want.DType = BFloat16
		}
		if want.DType != got.dt || !slices.Equal(want.Shape, shape) {
			problems = append(problems, fmt.Sprintf("output %q: inferred %s, expected tensor is %s%v", v.Name, got, want.DType, want.Shape))
		}
	}
	return strings.Join(problems, "; "), open && len(problems) > 0
}

func readTensorPB(path string) (*Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	t, err := TensorFromProto(&tp, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}
