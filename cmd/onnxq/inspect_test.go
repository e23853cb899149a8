package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// inspectKeys are the documented keys of `onnxq inspect --json`
// (docs/cli.md). The JSON form is stable: this list only grows.
var inspectKeys = []string{
	"ir_version", "opset_import", "producer_name", "producer_version", "inputs", "outputs",
	"node_count", "op_types", "subgraph_count", "initializer_params", "constant_params",
	"file_bytes", "external_data_bytes",
}

// rawModel is what the test counts itself by walking the protobuf message
// of a file directly, without onnxio, graph or inspect: the independent
// reference that `onnxq inspect --json` must agree with.
type rawModel struct {
	irVersion   int64
	opsets      []any // [{domain, version}] as JSON decodes them
	producer    [2]string
	inputs      []any // [{name, elem_type, shape}] as JSON decodes them
	outputs     []any
	nodes       int
	ops         map[string]int
	subgraphs   int
	initParams  int64
	constParams int64
}

func countRaw(t *testing.T, path string) rawModel {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r := rawModel{irVersion: m.GetIrVersion(), ops: map[string]int{},
		producer: [2]string{m.GetProducerName(), m.GetProducerVersion()}}
	for _, o := range m.GetOpsetImport() {
		r.opsets = append(r.opsets, map[string]any{"domain": o.GetDomain(), "version": float64(o.GetVersion())})
	}
	elems := func(dims []int64) int64 {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		return n
	}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, init := range g.GetInitializer() {
			r.initParams += elems(init.GetDims())
		}
		for _, sp := range g.GetSparseInitializer() {
			r.initParams += elems(sp.GetValues().GetDims())
		}
		for _, n := range g.GetNode() {
			r.nodes++
			key := n.GetOpType()
			if d := n.GetDomain(); d != "" && d != "ai.onnx" {
				key = d + ":" + key
			}
			r.ops[key]++
			for _, a := range n.GetAttribute() {
				if key == "Constant" {
					switch a.GetType() {
					case onnxpb.AttributeProto_TENSOR:
						r.constParams += elems(a.GetT().GetDims())
					case onnxpb.AttributeProto_SPARSE_TENSOR:
						r.constParams += elems(a.GetSparseTensor().GetValues().GetDims())
					case onnxpb.AttributeProto_FLOATS:
						r.constParams += int64(len(a.GetFloats()))
					case onnxpb.AttributeProto_INTS:
						r.constParams += int64(len(a.GetInts()))
					case onnxpb.AttributeProto_STRINGS:
						r.constParams += int64(len(a.GetStrings()))
					case onnxpb.AttributeProto_FLOAT, onnxpb.AttributeProto_INT, onnxpb.AttributeProto_STRING:
						r.constParams++
					}
				}
				if sub := a.GetG(); sub != nil {
					r.subgraphs++
					walk(sub)
				}
			}
		}
	}
	walk(m.GetGraph())
	isInit := map[string]bool{}
	for _, init := range m.GetGraph().GetInitializer() {
		isInit[init.GetName()] = true
	}
	for _, vi := range m.GetGraph().GetInput() {
		if !isInit[vi.GetName()] {
			r.inputs = append(r.inputs, rawIO(vi))
		}
	}
	for _, vi := range m.GetGraph().GetOutput() {
		r.outputs = append(r.outputs, rawIO(vi))
	}
	return r
}

// rawIO describes a value the way inspect's JSON does, for tensor types;
// for other types only the name is compared (elem_type and shape nil).
func rawIO(vi *onnxpb.ValueInfoProto) map[string]any {
	io := map[string]any{"name": vi.GetName(), "elem_type": nil, "shape": nil}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return io
	}
	io["elem_type"] = onnxpb.TensorProto_DataType(tt.GetElemType()).String()
	if tt.Shape != nil {
		shape := []any{}
		for _, d := range tt.GetShape().GetDim() {
			switch {
			case d.GetDimParam() != "":
				shape = append(shape, d.GetDimParam())
			case d.Value != nil:
				shape = append(shape, float64(d.GetDimValue()))
			default:
				shape = append(shape, nil)
			}
		}
		io["shape"] = shape
	}
	return io
}

// inspectJSON runs `onnxq inspect --json path` in process and decodes it.
func inspectJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	r := runInProcess("inspect", "--json", path)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("onnxq inspect --json %s: exit %d, stderr %q", path, r.code, r.stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	return got
}

// checkAgainstRaw compares the JSON report of path with the raw counts.
func checkAgainstRaw(t *testing.T, path string) map[string]any {
	t.Helper()
	got := inspectJSON(t, path)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := append([]string{}, inspectKeys...)
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, documented keys %v", keys, want)
	}
	raw := countRaw(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	num := func(k string) int64 { f, _ := got[k].(float64); return int64(f) }
	for _, c := range []struct {
		key       string
		got, want int64
	}{
		{"ir_version", num("ir_version"), raw.irVersion},
		{"node_count", num("node_count"), int64(raw.nodes)},
		{"subgraph_count", num("subgraph_count"), int64(raw.subgraphs)},
		{"initializer_params", num("initializer_params"), raw.initParams},
		{"constant_params", num("constant_params"), raw.constParams},
		{"file_bytes", num("file_bytes"), st.Size()},
		{"external_data_bytes", num("external_data_bytes"), 0}, // none of the reference models uses external data
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the file says %d", c.key, c.got, c.want)
		}
	}
	ops := map[string]int{}
	for k, v := range got["op_types"].(map[string]any) {
		ops[k] = int(v.(float64))
	}
	if !reflect.DeepEqual(ops, raw.ops) {
		t.Errorf("op_types = %v, the file has %v", ops, raw.ops)
	}
	if !reflect.DeepEqual(got["opset_import"], raw.opsets) && !(len(raw.opsets) == 0 && len(got["opset_import"].([]any)) == 0) {
		t.Errorf("opset_import = %v, the file has %v", got["opset_import"], raw.opsets)
	}
	if got["producer_name"] != raw.producer[0] || got["producer_version"] != raw.producer[1] {
		t.Errorf("producer = %v %v, the file has %v", got["producer_name"], got["producer_version"], raw.producer)
	}
	compareIO(t, "inputs", got["inputs"], raw.inputs)
	compareIO(t, "outputs", got["outputs"], raw.outputs)
	return got
}

func compareIO(t *testing.T, key string, got any, want []any) {
	t.Helper()
	list, _ := got.([]any)
	if len(list) != len(want) {
		t.Errorf("%s: %d entries, the file has %d: %v vs %v", key, len(list), len(want), list, want)
		return
	}
	for i, g := range list {
		gm, w := g.(map[string]any), want[i].(map[string]any)
		if w["elem_type"] == nil { // not a tensor: compare the name only
			if gm["name"] != w["name"] {
				t.Errorf("%s[%d] name %v, want %v", key, i, gm["name"], w["name"])
			}
			continue
		}
		if !reflect.DeepEqual(gm, w) {
			t.Errorf("%s[%d] = %v, the file says %v", key, i, gm, w)
		}
	}
}

func TestInspectRealModels(t *testing.T) {
	for name, rel := range testdata.RealModels {
		t.Run(name, func(t *testing.T) {
			checkAgainstRaw(t, testdata.Path(t, rel))
		})
	}
}

// TestInspectFixedFacts checks numbers that do not come from our own
// parsing at all: those stated by the issue and REFDATA.md.
func TestInspectFixedFacts(t *testing.T) {
	ppocr := inspectJSON(t, testdata.Path(t, testdata.RealModels["ppocr-det"]))
	ops := ppocr["op_types"].(map[string]any)
	if ops["Conv"] != 62.0 || ops["Constant"] != 342.0 || ppocr["initializer_params"] != 0.0 {
		t.Errorf("PP-OCRv4 det: Conv %v, Constant %v, initializer_params %v; want 62, 342, 0",
			ops["Conv"], ops["Constant"], ppocr["initializer_params"])
	}
	if ppocr["ir_version"] != 8.0 || ppocr["constant_params"].(float64) == 0 {
		t.Errorf("PP-OCRv4 det: ir_version %v (want 8), constant_params %v (want > 0: all its weights are Constant nodes)",
			ppocr["ir_version"], ppocr["constant_params"])
	}
	in := ppocr["inputs"].([]any)[0].(map[string]any)
	shape := in["shape"].([]any)
	if in["name"] != "x" || in["elem_type"] != "FLOAT" || len(shape) != 4 || shape[1] != 3.0 {
		t.Errorf("PP-OCRv4 det input = %v, want x FLOAT [N, 3, H, W]", in)
	}
	for _, i := range []int{0, 2, 3} {
		if _, symbolic := shape[i].(string); !symbolic {
			t.Errorf("PP-OCRv4 det input dim %d = %v, want a symbolic dim (a name)", i, shape[i])
		}
	}

	mnist := inspectJSON(t, testdata.Path(t, testdata.RealModels["mnist-7"]))
	want := map[string]any{
		"ir_version":   3.0,
		"opset_import": []any{map[string]any{"domain": "", "version": 7.0}},
		"inputs":       []any{map[string]any{"name": "Input3", "elem_type": "FLOAT", "shape": []any{1.0, 1.0, 28.0, 28.0}}},
		"outputs":      []any{map[string]any{"name": "Plus214_Output_0", "elem_type": "FLOAT", "shape": []any{1.0, 10.0}}},
		"file_bytes":   26454.0, // the pinned SHA-256 of REFDATA.md fixes these bytes
	}
	for k, v := range want {
		if !reflect.DeepEqual(mnist[k], v) {
			t.Errorf("mnist-7 %s = %v, want %v", k, mnist[k], v)
		}
	}
	for _, name := range []string{"blazeface-front", "blazeface-back"} {
		bf := inspectJSON(t, testdata.Path(t, testdata.RealModels[name]))
		if bf["ir_version"] != 7.0 || !reflect.DeepEqual(bf["opset_import"], []any{map[string]any{"domain": "", "version": 12.0}}) {
			t.Errorf("%s: ir_version %v, opset_import %v; REFDATA.md says IR 7, opset 12", name, bf["ir_version"], bf["opset_import"])
		}
	}
}

// TestInspectSubgraphModels checks node tests with If/Loop/Scan bodies,
// where the counts must include the subgraphs.
func TestInspectSubgraphModels(t *testing.T) {
	root := testdata.Path(t, "onnx-node")
	for _, name := range []string{"test_if", "test_if_seq", "test_if_opt", "test_loop11", "test_loop13_seq",
		"test_loop16_seq_none", "test_scan9_sum", "test_scan_sum", "test_range_float_type_positive_delta_expanded",
		"test_sequence_map_add_2_sequences"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(root, name, "model.onnx")
			got := checkAgainstRaw(t, path)
			if got["subgraph_count"].(float64) < 1 {
				t.Fatalf("%s has subgraphs, report says subgraph_count %v", name, got["subgraph_count"])
			}
			main := countMainNodes(t, path)
			if got["node_count"].(float64) <= float64(main) {
				t.Errorf("node_count %v does not exceed the %d nodes of the main graph: subgraph nodes not counted", got["node_count"], main)
			}
		})
	}
}

func countMainNodes(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return len(m.GetGraph().GetNode())
}

// TestInspectAllNodeTests runs inspect on every model of the ONNX backend
// node tests and compares with the raw counts.
func TestInspectAllNodeTests(t *testing.T) {
	dirs := testdata.NodeTests(t)
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			checkAgainstRaw(t, filepath.Join(dir, "model.onnx"))
		})
	}
	t.Logf("%d node-test models checked", len(dirs))
}

func TestInspectText(t *testing.T) {
	r := runInProcess("inspect", testdata.Path(t, testdata.RealModels["ppocr-det"]))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, s := range []string{"IR version", "ai.onnx 11", "Conv", "62", "Constant", "342", "FLOAT", ", 3, "} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("text output lacks %q:\n%s", s, r.stdout)
		}
	}
}
