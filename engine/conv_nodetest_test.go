package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// heavyNodeTestPrefixes are the ONNX backend node tests of the operators in
// conv*, matmul*, pool*, norm*, pad* and resize*.
var heavyNodeTestPrefixes = []string{
	"test_conv_", "test_basic_conv_", "test_convtranspose", "test_gemm", "test_matmul", "test_convinteger", "test_basic_convinteger",
	"test_maxpool", "test_averagepool", "test_globalaveragepool", "test_globalmaxpool", "test_lppool",
	"test_batchnorm", "test_instancenorm", "test_layer_normalization",
	"test_constant_pad", "test_edge_pad", "test_reflect_pad", "test_wrap_pad", "test_pad",
	"test_resize", "test_upsample",
}

// heavyNodeTestExceptions are node tests among those prefixes that are not
// expected to pass, with the reason.
var heavyNodeTestExceptions = map[string]string{}

// TestHeavyNodeTests runs the ONNX node tests of the heavy operators and
// compares every output with the backend suite's tolerance: rtol 1e-3,
// atol 1e-7 (onnx/backend/test/runner: np.testing.assert_allclose).
func TestHeavyNodeTests(t *testing.T) {
	var failed []string
	ran := 0
	for _, dir := range testdata.NodeTests(t) {
		name := filepath.Base(dir)
		if !hasAnyPrefix(name, heavyNodeTestPrefixes) || strings.HasSuffix(name, "_expanded") {
			continue
		}
		if _, ok := heavyNodeTestExceptions[name]; ok {
			continue
		}
		ran++
		if err := runNodeTest(dir); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
		}
	}
	sort.Strings(failed)
	t.Logf("%d node tests run, %d failed", ran, len(failed))
	for _, f := range failed {
		t.Error(f)
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// runNodeTest runs one node test folder on test_data_set_0.
func runNodeTest(dir string) error {
	m, err := graph.FromFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return err
	}
	prog, err := Compile(m)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "test_data_set_0")
	inputs := map[string]*graph.Tensor{}
	i := 0
	for _, v := range m.Graph.Inputs {
		if v.Const != nil {
			continue
		}
		t, err := readTensorFile(filepath.Join(data, fmt.Sprintf("input_%d.pb", i)))
		if err != nil {
			return err
		}
		inputs[v.Name] = t
		i++
	}
	got, err := prog.Run(inputs, nil)
	if err != nil {
		return err
	}
	for j, v := range m.Graph.Outputs {
		want, err := readTensorFile(filepath.Join(data, fmt.Sprintf("output_%d.pb", j)))
		if err != nil {
			return err
		}
		if err := allClose(got[v.Name], want, 1e-3, 1e-7); err != nil {
			return fmt.Errorf("output %q: %w", v.Name, err)
		}
	}
	return nil
}

func readTensorFile(path string) (*graph.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return graph.TensorFromProto(tp, nil)
}

// allClose compares got with want element by element:
// |got-want| <= atol + rtol*|want|, same shape and type.
func allClose(got, want *graph.Tensor, rtol, atol float64) error {
	if got == nil {
		return fmt.Errorf("not computed")
	}
	if got.DType != want.DType {
		return fmt.Errorf("type %s, want %s", got.DType, want.DType)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, err := asFloat64s(got)
	if err != nil {
		return err
	}
	w, err := asFloat64s(want)
	if err != nil {
		return err
	}
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) {
			continue
		}
		if math.Abs(g[i]-w[i]) > atol+rtol*math.Abs(w[i]) || math.IsNaN(g[i]) != math.IsNaN(w[i]) {
			return fmt.Errorf("element %d is %g, want %g", i, g[i], w[i])
		}
	}
	return nil
}

func asFloat64s(t *graph.Tensor) ([]float64, error) {
	switch d := t.Data.(type) {
	case []float64:
		return d, nil
	case []int64:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out, nil
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}
