package inspect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

func str(s string) *string { return &s }
func i64(v int64) *int64   { return &v }
func i32(v int32) *int32   { return &v }

func dimV(v int64) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
}

func dimP(p string) *onnxpb.TensorShapeProto_Dimension {
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}}
}

func tensorVI(name string, dt onnxpb.TensorProto_DataType, dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: str(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: i32(int32(dt)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

func floats(name string, dims []int64, n int) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: str(name), Dims: dims, DataType: i32(int32(onnxpb.TensorProto_FLOAT)), FloatData: make([]float32, n)}
}

func attrT(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: str(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: str(op), Input: in, Output: out, Attribute: attrs}
}

// handModel is a model that exercises every rule of the report: an IR-3
// initializer listed as an input, symbolic/unknown dims and unknown rank,
// a sequence output, Constant nodes with each kind of value, a sparse
// initializer, an If whose branches hold a Constant and an initializer,
// and an operator of another domain.
func handModel() *onnxpb.ModelProto {
	then := &onnxpb.GraphProto{Name: str("then"),
		Node:        []*onnxpb.NodeProto{node("Constant", nil, []string{"tc"}, attrT("value", floats("tcv", []int64{2, 3}, 6)))},
		Initializer: []*onnxpb.TensorProto{floats("tw", []int64{4}, 4)},
		Output:      []*onnxpb.ValueInfoProto{tensorVI("tc", onnxpb.TensorProto_FLOAT, dimV(2), dimV(3))},
	}
	els := &onnxpb.GraphProto{Name: str("else"),
		Node:   []*onnxpb.NodeProto{node("Identity", []string{"w"}, []string{"ec"})},
		Output: []*onnxpb.ValueInfoProto{tensorVI("ec", onnxpb.TensorProto_FLOAT)},
	}
	sparse := &onnxpb.SparseTensorProto{
		Values:  &onnxpb.TensorProto{Name: str("sp"), Dims: []int64{3}, DataType: i32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{1, 2, 3}},
		Indices: &onnxpb.TensorProto{Dims: []int64{3}, DataType: i32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{0, 5, 9}},
		Dims:    []int64{10},
	}
	unknownRank := &onnxpb.ValueInfoProto{Name: str("u"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: i32(int32(onnxpb.TensorProto_INT8))}}}}
	seqOut := &onnxpb.ValueInfoProto{Name: str("seq"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{
		SequenceType: &onnxpb.TypeProto_Sequence{ElemType: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: i32(int32(onnxpb.TensorProto_FLOAT))}}}}}}}
	g := &onnxpb.GraphProto{Name: str("main"),
		Node: []*onnxpb.NodeProto{
			node("Constant", nil, []string{"c1"}, &onnxpb.AttributeProto{Name: str("value_floats"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: []float32{1, 2, 3, 4, 5}}),
			node("Constant", nil, []string{"c2"}, &onnxpb.AttributeProto{Name: str("value_int"), Type: onnxpb.AttributeProto_INT.Enum(), I: i64(7)}),
			node("Constant", nil, []string{"c3"}, &onnxpb.AttributeProto{Name: str("sparse_value"), Type: onnxpb.AttributeProto_SPARSE_TENSOR.Enum(), SparseTensor: proto.Clone(sparse).(*onnxpb.SparseTensorProto)}),
			node("If", []string{"cond"}, []string{"r"},
				&onnxpb.AttributeProto{Name: str("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: then},
				&onnxpb.AttributeProto{Name: str("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: els}),
			{OpType: str("Fancy"), Domain: str("com.example"), Input: []string{"x"}, Output: []string{"y"}},
			node("SequenceConstruct", []string{"x"}, []string{"seq"}),
			node("Identity", []string{"sp"}, []string{"u"}),
		},
		Initializer:       []*onnxpb.TensorProto{floats("w", []int64{2, 3}, 6)},
		SparseInitializer: []*onnxpb.SparseTensorProto{sparse},
		Input: []*onnxpb.ValueInfoProto{
			tensorVI("x", onnxpb.TensorProto_FLOAT, dimP("N"), dimV(3), &onnxpb.TensorShapeProto_Dimension{}),
			tensorVI("cond", onnxpb.TensorProto_BOOL),
			tensorVI("w", onnxpb.TensorProto_FLOAT, dimV(2), dimV(3)),
		},
		Output: []*onnxpb.ValueInfoProto{tensorVI("r", onnxpb.TensorProto_FLOAT), tensorVI("y", onnxpb.TensorProto_FLOAT, dimP("N")), unknownRank, seqOut},
	}
	return &onnxpb.ModelProto{IrVersion: i64(3), ProducerName: str("hand"), ProducerVersion: str("0.1"), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: str(""), Version: i64(13)}, {Domain: str("com.example"), Version: i64(1)}}}
}

func save(t *testing.T, m *onnxpb.ModelProto, opts onnxio.SaveOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := onnxio.Save(m, path, opts); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHandModel(t *testing.T) {
	path := save(t, handModel(), onnxio.SaveOptions{})
	r, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	want := &Report{
		IRVersion:       3,
		OpsetImport:     []Opset{{"", 13}, {"com.example", 1}},
		ProducerName:    "hand",
		ProducerVersion: "0.1",
		// w is an initializer listed as an input (IR 3): not a real input.
		Inputs: []IOInfo{
			{Name: "x", ElemType: "FLOAT", Shape: []any{"N", int64(3), nil}},
			{Name: "cond", ElemType: "BOOL", Shape: []any{}},
		},
		Outputs: []IOInfo{
			{Name: "r", ElemType: "FLOAT", Shape: []any{}},
			{Name: "y", ElemType: "FLOAT", Shape: []any{"N"}},
			{Name: "u", ElemType: "INT8", Shape: nil},
			{Name: "seq", ElemType: "sequence(FLOAT)", Shape: nil},
		},
		NodeCount: 9, // 7 in main, 1 per branch
		OpTypes: map[string]int{"Constant": 4, "If": 1, "com.example:Fancy": 1, "SequenceConstruct": 1,
			"Identity": 2},
		SubgraphCount: 2,
		// w (6) + sparse initializer (3 stored values) + then-branch tw (4)
		InitializerParams: 6 + 3 + 4,
		// value_floats (5) + value_int (1) + sparse_value (3) + then-branch 2x3 (6)
		ConstantParams:    5 + 1 + 3 + 6,
		FileBytes:         st.Size(),
		ExternalDataBytes: 0,
	}
	if !reflect.DeepEqual(r, want) {
		got, _ := json.MarshalIndent(r, "", " ")
		exp, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("report:\n%s\nwant:\n%s", got, exp)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hand 0.1", "ai.onnx 13, com.example 1", "[N, 3, ?]", "unknown", "sequence(FLOAT)",
		"com.example:Fancy", "9 (main graph and 2 subgraphs)"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text output lacks %q:\n%s", s, text.String())
		}
	}
}

func TestExternalDataBytes(t *testing.T) {
	m := handModel()
	// 8 KiB of raw_data: Save moves it to the external data file.
	big := &onnxpb.TensorProto{Name: str("big"), Dims: []int64{64, 32}, DataType: i32(int32(onnxpb.TensorProto_FLOAT)), RawData: make([]byte, 64*32*4)}
	m.Graph.Initializer = append(m.Graph.Initializer, big)
	path := save(t, m, onnxio.SaveOptions{ExternalThreshold: 4096})
	r, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExternalDataBytes != 64*32*4 {
		t.Fatalf("external_data_bytes = %d, want %d (the one 64x32 float tensor)", r.ExternalDataBytes, 64*32*4)
	}
	if r.InitializerParams != 6+3+4+64*32 {
		t.Fatalf("initializer_params = %d, want %d", r.InitializerParams, 6+3+4+64*32)
	}
	st, _ := os.Stat(path)
	if r.FileBytes != st.Size() {
		t.Fatalf("file_bytes = %d, file has %d", r.FileBytes, st.Size())
	}
	if ds, err := os.Stat(path + ".data"); err != nil || ds.Size() < 64*32*4 {
		t.Fatalf("external data file %s.data: %v (size %v); the test needs the tensor stored there", path, err, ds)
	}
}

func TestFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("this is not a protobuf \xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.onnx"), "no such file"},
		{dir, "is a directory"},
		{garbage, "not a valid ONNX"},
	} {
		_, err := File(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("File(%s) error = %v; want it to name the file and say %q", tc.path, err, tc.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1171841: "1,171,841", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
