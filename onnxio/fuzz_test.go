package onnxio_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// fuzzNodeTests are the ONNX node-test models FuzzLoad starts from: a mix
// of ops, tensor attributes of several types, and control flow whose
// subgraphs hold nodes, constants and outer-scope references.
var fuzzNodeTests = []string{
	"test_if", "test_if_seq", "test_if_opt", "test_loop11", "test_loop13_seq", "test_loop16_seq_none",
	"test_scan9_sum", "test_scan_sum", "test_constant", "test_constantofshape_float_ones",
	"test_constantofshape_int_zeros", "test_conv_with_strides_padding", "test_gemm_default_matrix_bias",
	"test_quantizelinear", "test_dequantizelinear_axis", "test_qlinearconv", "test_cast_FLOAT_to_STRING",
	"test_lstm_with_peepholes", "test_gru_seq_length", "test_bitshift_left_uint64",
	"test_optional_get_element_sequence", "test_range_float_type_positive_delta_expanded",
	"test_sequence_map_add_2_sequences_expanded", "test_layer_normalization_2d_axis0_expanded",
}

// fuzzRealModels are the reference models. The fuzz engine starts from
// mnist-7 only (26 KB of real initializers); the others (0.4-4.7 MB) are
// seeded when the test runs as a unit test, where each runs once.
var fuzzRealModels = []string{"mnist-7", "blazeface-front", "blazeface-back", "ppocr-det"}

// fuzzing reports whether the test binary runs the fuzz engine (-fuzz).
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// FuzzLoad feeds arbitrary bytes to the loader. Whatever the input, nothing
// may panic, hang or allocate without bound; and whatever Decode accepts,
// the IR converts or refuses with an error, and Save writes a file that Load
// reads back to the same message, with or without external data.
func FuzzLoad(f *testing.F) {
	for _, name := range fuzzNodeTests {
		f.Add(readFile(f, testdata.Path(f, filepath.Join("onnx-node", name, "model.onnx"))))
	}
	f.Add(mustMarshal(f, allTypesModel()))
	for i, name := range fuzzRealModels {
		if i == 0 || !fuzzing() {
			f.Add(readFile(f, testdata.Path(f, testdata.RealModels[name])))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLoadInvariants(t, data)
	})
}

func checkLoadInvariants(t *testing.T, data []byte) {
	m, err := onnxio.Decode(data)
	if err != nil {
		if m != nil {
			t.Fatalf("Decode returned a model with error %v", err)
		}
		return
	}
	// Load's checks and the IR's decoder agree: every tensor Decode
	// accepted decodes, except external data, which has no folder here.
	_ = onnxio.WalkTensors(m.Proto, func(site onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		if _, err := graph.TensorFromProto(tp, m.ReadTensorData); err != nil && tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			t.Fatalf("tensor %s passed Decode's checks but the IR cannot decode it: %v", site, err)
		}
		return nil
	})
	if gm, err := graph.FromONNX(m); err == nil {
		if _, err := proto.Marshal(gm.ToProto()); err != nil {
			t.Fatalf("marshal of the IR's model: %v", err)
		}
	}
	hasExternal := false
	_ = onnxio.WalkTensors(m.Proto, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		hasExternal = hasExternal || tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
		return nil
	})
	dir := t.TempDir()
	for _, threshold := range []int64{0, 16} {
		p := filepath.Join(dir, "m.onnx")
		err := onnxio.Save(m.Proto, p, onnxio.SaveOptions{ExternalThreshold: threshold})
		if hasExternal {
			// A model decoded from memory has no folder to read its
			// external data from: Save must say so, not write.
			if err == nil {
				t.Fatalf("Save of a model whose external data is unavailable succeeded")
			}
			continue
		}
		if err != nil {
			t.Fatalf("Save (threshold %d) of a model Decode accepted: %v", threshold, err)
		}
		back, err := onnxio.Load(p)
		if err != nil {
			t.Fatalf("Load of what Save wrote (threshold %d): %v", threshold, err)
		}
		checkSameTensors(t, m, back)
	}
}

// checkSameTensors checks that b holds the same model as a, tensor bytes
// included, wherever b's tensors are stored.
func checkSameTensors(t *testing.T, a, b *onnxio.Model) {
	t.Helper()
	var as, bs []*onnxpb.TensorProto
	_ = onnxio.WalkTensors(a.Proto, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error { as = append(as, tp); return nil })
	_ = onnxio.WalkTensors(b.Proto, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error { bs = append(bs, tp); return nil })
	if len(as) != len(bs) {
		t.Fatalf("%d tensors saved, %d read back", len(as), len(bs))
	}
	for i := range as {
		ra, err := tensorBytes(a, as[i])
		if err != nil {
			t.Fatal(err)
		}
		rb, err := tensorBytes(b, bs[i])
		if err != nil {
			t.Fatalf("tensor %q read back: %v", bs[i].GetName(), err)
		}
		if !bytes.Equal(ra, rb) {
			t.Fatalf("tensor %q: %d bytes saved, %d different bytes read back", as[i].GetName(), len(ra), len(rb))
		}
	}
	if !proto.Equal(withoutTensorStorage(a.Proto), withoutTensorStorage(b.Proto)) {
		t.Fatalf("the model read back differs from the model saved in more than where its tensors are stored")
	}
}

// tensorBytes returns the bytes of a tensor in the raw encoding, wherever
// and however m stores them (STRING tensors: nil).
func tensorBytes(m *onnxio.Model, tp *onnxpb.TensorProto) ([]byte, error) {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return m.ReadTensorData(tp)
	}
	if tp.GetDataType() == int32(onnxpb.TensorProto_STRING) {
		return nil, nil
	}
	return onnxio.RawBytes(tp)
}

// withoutTensorStorage returns a copy of m with the data and storage fields
// of every tensor cleared.
func withoutTensorStorage(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	c := proto.Clone(m).(*onnxpb.ModelProto)
	_ = onnxio.WalkTensors(c, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		if tp.GetDataType() != int32(onnxpb.TensorProto_STRING) {
			tp.RawData, tp.FloatData, tp.Int32Data, tp.Int64Data, tp.DoubleData, tp.Uint64Data = nil, nil, nil, nil, nil, nil
		}
		tp.ExternalData, tp.DataLocation = nil, nil
		return nil
	})
	return c
}

// FuzzTensor fuzzes one TensorProto at a time: every input that parses as a
// tensor becomes the initializer of a model saved in a folder that holds a
// data file, so that mutations reach the data checks, the external data
// reader and the IR's decoders instead of breaking the model's framing.
// Load may refuse the tensor; if it accepts it, the IR must decode it, and
// Save (inlining or moving its data) must write what Load reads back.
func FuzzTensor(f *testing.F) {
	for _, tp := range seedTensors() {
		f.Add(mustMarshal(f, tp))
	}
	mnist, err := onnxio.Load(testdata.Path(f, testdata.RealModels["mnist-7"]))
	if err != nil {
		f.Fatal(err)
	}
	for _, tp := range mnist.Proto.Graph.Initializer[:4] {
		f.Add(mustMarshal(f, tp))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tp := &onnxpb.TensorProto{}
		if proto.Unmarshal(data, tp) != nil {
			return
		}
		checkTensorInvariants(t, tp)
	})
}

// fuzzDataFile is the content of "w.data" in FuzzTensor's model folder.
var fuzzDataFile = func() []byte {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

func checkTensorInvariants(t *testing.T, tp *onnxpb.TensorProto) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.data"), fuzzDataFile, 0o644); err != nil {
		t.Fatal(err)
	}
	m := modelWith(tp)
	p := writeModel(t, dir, "m.onnx", m)
	// Unchecked decoding must not panic either.
	_, _ = graph.TensorFromProto(tp, (&onnxio.Model{Proto: m, Path: p, Dir: dir}).ReadTensorData)
	lm, err := onnxio.Load(p)
	if err != nil {
		return
	}
	ltp := lm.Proto.Graph.Initializer[0]
	if _, err := graph.TensorFromProto(ltp, lm.ReadTensorData); err != nil {
		t.Fatalf("tensor passed Load's checks but the IR cannot decode it: %v", err)
	}
	out := t.TempDir()
	for _, threshold := range []int64{-1, 0, 1} {
		q := filepath.Join(out, "m.onnx")
		if err := onnxio.Save(lm.Proto, q, onnxio.SaveOptions{ExternalThreshold: threshold, SourceDir: lm.Dir}); err != nil {
			t.Fatalf("Save (threshold %d) of a model Load accepted: %v", threshold, err)
		}
		back, err := onnxio.Load(q)
		if err != nil {
			t.Fatalf("Load of what Save wrote (threshold %d): %v", threshold, err)
		}
		checkSameTensors(t, lm, back)
	}
}

// seedTensors returns the tensors of allTypesModel and the hostile tensors
// of the table tests, as seeds for FuzzTensor.
func seedTensors() []*onnxpb.TensorProto {
	var ts []*onnxpb.TensorProto
	_ = onnxio.WalkTensors(allTypesModel(), func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		ts = append(ts, tp)
		return nil
	})
	for _, c := range hostileTensors {
		ts = append(ts, c.tensor)
	}
	for _, c := range hostileExternals {
		if c.tensor != nil {
			ts = append(ts, c.tensor)
		}
	}
	ts = append(ts, extTensor("location", "w.data", "offset", "4000", "length", "16"),
		with(extTensor("location", "w.data", "offset", "100"), func(t *onnxpb.TensorProto) {
			t.DataType = dtype(onnxpb.TensorProto_INT4)
			t.Dims = []int64{3, 5}
		}))
	return ts
}
