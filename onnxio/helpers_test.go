package onnxio_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Builders for the small models the tests write: hostile files, seeds for
// the fuzzer, external-data fixtures.

func f32Tensor(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: dtype(onnxpb.TensorProto_FLOAT), RawData: raw}
}

func dtype(dt onnxpb.TensorProto_DataType) *int32 { v := int32(dt); return &v }

func floatType(dims ...int64) *onnxpb.TypeProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: dtype(onnxpb.TensorProto_FLOAT), Shape: shape}}}
}

func valueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: floatType(dims...)}
}

func node(name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

// modelWith returns a model (IR 10, opset 21) whose main graph takes input
// "x", holds the given initializers and computes "y" from x with one
// Identity node per initializer (so every initializer is used).
func modelWith(inits ...*onnxpb.TensorProto) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: proto.String("g"), Input: []*onnxpb.ValueInfoProto{valueInfo("x", 4)}, Initializer: inits}
	g.Node = append(g.Node, node("id_x", "Identity", []string{"x"}, []string{"y"}))
	for i, t := range inits {
		g.Node = append(g.Node, node("id"+strconv.Itoa(i), "Identity", []string{t.GetName()}, []string{"copy_of_" + t.GetName()}))
	}
	g.Output = []*onnxpb.ValueInfoProto{valueInfo("y", 4)}
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(10),
		ProducerName: proto.String("onnxq tests"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(21)}},
		Graph:        g,
	}
}

// allTypesModel is a valid model holding a tensor of nearly every element
// type and encoding the loader knows (raw and typed fields, packed 4-bit,
// strings, complex, a sparse initializer, a Constant attribute, an If with
// an initializer of its own): a seed that leads the fuzzer to every decoder.
func allTypesModel() *onnxpb.ModelProto {
	i32 := func(name string, dt onnxpb.TensorProto_DataType, dims []int64, v ...int32) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: dtype(dt), Int32Data: v}
	}
	inits := []*onnxpb.TensorProto{
		f32Tensor("f32_raw", []int64{2, 2}, 1, -2, 3.5, 0),
		{Name: proto.String("f32_typed"), Dims: []int64{3}, DataType: dtype(onnxpb.TensorProto_FLOAT), FloatData: []float32{1, 2, 3}},
		{Name: proto.String("i64"), Dims: []int64{2}, DataType: dtype(onnxpb.TensorProto_INT64), Int64Data: []int64{-1, 1 << 40}},
		{Name: proto.String("f64"), Dims: []int64{1}, DataType: dtype(onnxpb.TensorProto_DOUBLE), DoubleData: []float64{math.Pi}},
		{Name: proto.String("u32"), Dims: []int64{2}, DataType: dtype(onnxpb.TensorProto_UINT32), Uint64Data: []uint64{7, 1<<32 - 1}},
		{Name: proto.String("u64"), Dims: []int64{1}, DataType: dtype(onnxpb.TensorProto_UINT64), Uint64Data: []uint64{1 << 63}},
		{Name: proto.String("c64"), Dims: []int64{1}, DataType: dtype(onnxpb.TensorProto_COMPLEX64), FloatData: []float32{1, -1}},
		{Name: proto.String("str"), Dims: []int64{2}, DataType: dtype(onnxpb.TensorProto_STRING), StringData: [][]byte{[]byte("a"), []byte("bc")}},
		{Name: proto.String("f16_raw"), Dims: []int64{2}, DataType: dtype(onnxpb.TensorProto_FLOAT16), RawData: []byte{0x00, 0x3c, 0x00, 0xc0}},
		{Name: proto.String("u4_raw"), Dims: []int64{3}, DataType: dtype(onnxpb.TensorProto_UINT4), RawData: []byte{0x21, 0x0f}},
		i32("i4_packed", onnxpb.TensorProto_INT4, []int64{3}, 0x7f, 0x08),
		i32("i8", onnxpb.TensorProto_INT8, []int64{2}, -128, 127),
		i32("bool", onnxpb.TensorProto_BOOL, []int64{2}, 0, 1),
		i32("f8", onnxpb.TensorProto_FLOAT8E4M3FN, []int64{1}, 0x38),
		{Name: proto.String("empty"), Dims: []int64{0, 3}, DataType: dtype(onnxpb.TensorProto_FLOAT)},
	}
	m := modelWith(inits...)
	g := m.Graph
	g.SparseInitializer = []*onnxpb.SparseTensorProto{{
		Values:  f32Tensor("sparse", []int64{2}, 5, 6),
		Indices: &onnxpb.TensorProto{Name: proto.String("sparse_idx"), Dims: []int64{2}, DataType: dtype(onnxpb.TensorProto_INT64), Int64Data: []int64{0, 3}},
		Dims:    []int64{4},
	}}
	g.Node = append(g.Node, node("c0", "Constant", nil, []string{"c0_out"}, &onnxpb.AttributeProto{
		Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: f32Tensor("", []int64{1}, 42),
	}))
	branch := func(name string, v float32) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:        proto.String(name),
			Initializer: []*onnxpb.TensorProto{f32Tensor(name+"_w", []int64{4}, v, v, v, v)},
			Node:        []*onnxpb.NodeProto{node(name+"_add", "Add", []string{"x", name + "_w"}, []string{name + "_out"})},
			Output:      []*onnxpb.ValueInfoProto{valueInfo(name+"_out", 4)},
		}
	}
	g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String("cond"), DataType: dtype(onnxpb.TensorProto_BOOL), Int32Data: []int32{1}})
	g.Node = append(g.Node, node("if0", "If", []string{"cond"}, []string{"if_out"},
		&onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("then", 1)},
		&onnxpb.AttributeProto{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("else", -1)},
	))
	g.Output = append(g.Output, valueInfo("if_out", 4))
	return m
}

// writeModel marshals m into dir/name and returns the path.
func writeModel(t testing.TB, dir, name string, m *onnxpb.ModelProto) string {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// equalAny compares two slices held in interfaces element by element.
func equalAny(a, b any) bool {
	return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}
