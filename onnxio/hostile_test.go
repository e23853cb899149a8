package onnxio_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// hostileTensor is a tensor stored in the model file that Load must refuse.
type hostileTensor struct {
	name   string
	tensor *onnxpb.TensorProto // named "bad"
	want   string              // what Load says is wrong
	// wantIR is what graph.TensorFromProto says when handed the tensor
	// without Load's checks ("" when it is the same as want).
	wantIR string
}

func badTensor(dt onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String("bad"), DataType: dtype(dt), Dims: dims}
}

func with(t *onnxpb.TensorProto, edit func(*onnxpb.TensorProto)) *onnxpb.TensorProto {
	edit(t)
	return t
}

var hostileTensors = []hostileTensor{
	{"negative dim", with(badTensor(onnxpb.TensorProto_FLOAT, 2, -3), func(t *onnxpb.TensorProto) { t.FloatData = []float32{1} }),
		"dim 1 is negative (-3)", ""},
	{"dims overflow int64", with(badTensor(onnxpb.TensorProto_FLOAT, 1<<32, 1<<31, 4), func(t *onnxpb.TensorProto) { t.RawData = []byte{1} }),
		"dims [4294967296 2147483648 4]: element count overflows int64", ""},
	{"raw_data shorter than dims", with(badTensor(onnxpb.TensorProto_FLOAT, 2, 3), func(t *onnxpb.TensorProto) { t.RawData = make([]byte, 20) }),
		"raw_data has 20 bytes but dims [2 3] of FLOAT need 24", "raw data has 20 bytes, 6 FLOAT values need 24"},
	{"raw_data longer than dims", with(badTensor(onnxpb.TensorProto_INT4, 3), func(t *onnxpb.TensorProto) { t.RawData = make([]byte, 3) }),
		"raw_data has 3 bytes but dims [3] of INT4 need 2", "raw data has 3 bytes, 3 INT4 values need 2"},
	{"typed field shorter than dims", with(badTensor(onnxpb.TensorProto_FLOAT, 2, 3), func(t *onnxpb.TensorProto) { t.FloatData = make([]float32, 5) }),
		"float_data has 5 values but dims [2 3] of FLOAT need 6", "float_data has 5 values, 6 FLOAT values expected"},
	{"typed field longer than dims", with(badTensor(onnxpb.TensorProto_INT8, 2), func(t *onnxpb.TensorProto) { t.Int32Data = make([]int32, 3) }),
		"int32_data has 3 values but dims [2] of INT8 need 2", "int32_data has 3 values, 2 INT8 values expected"},
	{"huge tensor without data", badTensor(onnxpb.TensorProto_FLOAT, 1<<40),
		"has 1099511627776 elements (dims [1099511627776]) but no data", "has 1099511627776 elements but no data"},
	{"huge tensor with one value", with(badTensor(onnxpb.TensorProto_FLOAT, 1<<40), func(t *onnxpb.TensorProto) { t.FloatData = []float32{1} }),
		"float_data has 1 values but dims [1099511627776] of FLOAT need 1099511627776", "more than onnxq holds in memory"},
	{"huge tensor with a little raw data", with(badTensor(onnxpb.TensorProto_INT8, 1<<20, 1<<10), func(t *onnxpb.TensorProto) { t.RawData = []byte{1, 2} }),
		"raw_data has 2 bytes but dims [1048576 1024] of INT8 need 1073741824", "raw data has 2 bytes, 1073741824 INT8 values need 1073741824"},
	{"values in the wrong typed field", with(badTensor(onnxpb.TensorProto_FLOAT, 2), func(t *onnxpb.TensorProto) { t.Int64Data = []int64{1, 2} }),
		"FLOAT tensor stores its values in int64_data; they belong in float_data", "has 2 elements but no data (float_data is empty"},
	{"values in two fields", with(badTensor(onnxpb.TensorProto_FLOAT, 2), func(t *onnxpb.TensorProto) { t.RawData = make([]byte, 8); t.FloatData = []float32{1, 2} }),
		"holds values in both raw_data and float_data", "-"},
	{"unknown data type", with(badTensor(99, 1), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{1} }),
		"data type dtype(99) is not a tensor element type", "unsupported data type dtype(99)"},
	{"undefined data type", with(badTensor(onnxpb.TensorProto_UNDEFINED, 1), func(t *onnxpb.TensorProto) { t.RawData = []byte{1} }),
		"data type UNDEFINED is not a tensor element type", "unsupported data type UNDEFINED"},
	{"STRING in raw_data", with(badTensor(onnxpb.TensorProto_STRING, 1), func(t *onnxpb.TensorProto) { t.RawData = []byte("abc") }),
		"STRING tensor uses raw_data", "data type STRING has no fixed element size"},
	{"complex with an odd count", with(badTensor(onnxpb.TensorProto_COMPLEX64, 2), func(t *onnxpb.TensorProto) { t.FloatData = []float32{1, 2, 3} }),
		"float_data has 3 values but dims [2] of COMPLEX64 need 4", "float_data has 3 values, 2 COMPLEX64 values expected"},
}

// TestHostileTensors writes a model holding each malformed tensor, as an
// initializer, a Constant attribute and an initializer of an If branch, and
// checks that Load refuses it, naming the tensor, where it is, and what is
// wrong; and that graph.TensorFromProto refuses the tensor on its own.
func TestHostileTensors(t *testing.T) {
	places := []struct {
		name  string
		put   func(*onnxpb.ModelProto, *onnxpb.TensorProto)
		where string
	}{
		{"initializer", func(m *onnxpb.ModelProto, bad *onnxpb.TensorProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, bad)
		}, `tensor initializer "bad": `},
		{"Constant attribute", func(m *onnxpb.ModelProto, bad *onnxpb.TensorProto) {
			m.Graph.Node = append(m.Graph.Node, node("const_bad", "Constant", nil, []string{"cb"},
				&onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: bad}))
		}, `tensor node "const_bad" (Constant) attribute value: `},
		{"subgraph initializer", func(m *onnxpb.ModelProto, bad *onnxpb.TensorProto) {
			for _, n := range m.Graph.Node {
				if n.GetName() == "if0" {
					n.Attribute[0].G.Initializer = append(n.Attribute[0].G.Initializer, bad)
				}
			}
		}, `tensor initializer "bad" in graph main/if0.then_branch: `},
	}
	dir := t.TempDir()
	for _, c := range hostileTensors {
		for _, pl := range places {
			t.Run(c.name+"/"+pl.name, func(t *testing.T) {
				m := allTypesModel()
				pl.put(m, proto.Clone(c.tensor).(*onnxpb.TensorProto))
				p := writeModel(t, dir, "hostile.onnx", m)
				_, err := onnxio.Load(p)
				assertErr(t, err, p, pl.where+c.want)
			})
		}
		if c.wantIR == "-" {
			continue // the IR decodes raw_data and ignores the rest; Load refuses it
		}
		want := c.wantIR
		if want == "" {
			want = c.want
		}
		_, err := graph.TensorFromProto(c.tensor, nil)
		assertErr(t, err, want)
	}
}

// assertErr fails unless err is an error whose message contains every want.
func assertErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\ndoes not say %q", err, w)
		}
	}
}

// TestHostileFiles checks what Load says about files that are not models
// at all, or real models cut short.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	mnist := readFile(t, testdata.Path(t, testdata.RealModels["mnist-7"]))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "file is empty"},
		{"random garbage", garbage, "not a valid ONNX protobuf file (truncated or not a model)"},
		{"text file", []byte("ir_version: 10\ngraph { name: \"g\" }\n"), "not a valid ONNX protobuf file (truncated or not a model)"},
		{"valid protobuf without a graph", mustMarshal(t, &onnxpb.ModelProto{IrVersion: proto.Int64(10)}), "not an ONNX model: it has no graph"},
		{"graph without ir_version", mustMarshal(t, &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{}}), "not an ONNX model: ir_version is missing"},
	}
	blaze := readFile(t, testdata.Path(t, testdata.RealModels["blazeface-front"]))
	for _, real := range []struct {
		name string
		data []byte
	}{{"mnist-7", mnist}, {"blazeface-front", blaze}} {
		n := len(real.data)
		for _, cut := range []int{1, 2, 40, 1000, n / 3, n / 2, n - 30, n - 1} {
			want := "not a valid ONNX protobuf file (truncated or not a model)"
			if cut == 2 {
				want = "not an ONNX model: it has no graph" // cut after the ir_version field
			}
			cases = append(cases, struct {
				name string
				data []byte
				want string
			}{real.name + " cut at " + strconv.Itoa(cut), real.data[:cut], want})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "hostile.onnx")
			if err := os.WriteFile(p, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := onnxio.Load(p)
			assertErr(t, err, "load "+p+": ", c.want)
			checkLoadInvariants(t, c.data)
		})
	}
}
