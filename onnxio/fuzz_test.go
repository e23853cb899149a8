package onnxio_test

import (
	"bytes"
	"flag"
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
	// Every tensor anywhere in the model decodes or is refused.
	_ = onnxio.WalkTensors(m.Proto, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		_, _ = graph.TensorFromProto(tp, m.ReadTensorData)
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
		ra, err := a.ReadTensorData(as[i])
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.ReadTensorData(bs[i])
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

// withoutTensorStorage returns a copy of m with the data and storage fields
// of every tensor cleared.
func withoutTensorStorage(m *onnxpb.ModelProto) *onnxpb.ModelProto {
	c := proto.Clone(m).(*onnxpb.ModelProto)
	_ = onnxio.WalkTensors(c, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		tp.RawData, tp.ExternalData, tp.DataLocation = nil, nil, nil
		return nil
	})
	return c
}
