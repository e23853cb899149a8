package onnxio_test

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// extTensor returns a FLOAT tensor "ext_w" of dims [4] (16 bytes) stored as
// external data with the given key/value pairs.
func extTensor(kv ...string) *onnxpb.TensorProto {
	t := &onnxpb.TensorProto{Name: proto.String("ext_w"), Dims: []int64{4}, DataType: dtype(onnxpb.TensorProto_FLOAT),
		DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}
	for i := 0; i+1 < len(kv); i += 2 {
		t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return t
}

// hostileExternal is a model folder whose external data Load must refuse.
type hostileExternal struct {
	name   string
	tensor *onnxpb.TensorProto
	// setup lays out the model's folder dir, inside a parent folder that
	// also holds outside/w.data (16 bytes: the data the tensor asks for).
	setup func(t *testing.T, dir, outside string)
	want  string
	// wantIR replaces want for graph.FromONNX, when it refuses the tensor
	// for another reason first.
	wantIR string
}

func writeBytes(t *testing.T, p string, n int) {
	t.Helper()
	if err := os.WriteFile(p, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func noSetup(*testing.T, string, string) {}

var hostileExternals = []hostileExternal{
	{"absolute location", nil, noSetup, `is absolute; it must be relative to the model's folder`, ""},
	{"parent location", extTensor("location", "../outside/w.data"), noSetup, `external data location "../outside/w.data" leaves the model's folder`, ""},
	{"location through a subfolder and back out", extTensor("location", "sub/../../outside/w.data"),
		func(t *testing.T, dir, _ string) { os.Mkdir(filepath.Join(dir, "sub"), 0o755) },
		`external data location "sub/../../outside/w.data" leaves the model's folder`, ""},
	{"symlink to a file outside", extTensor("location", "link.data"),
		func(t *testing.T, dir, outside string) {
			symlink(t, filepath.Join(outside, "w.data"), filepath.Join(dir, "link.data"))
		},
		`external data location "link.data" leaves the model's folder`, ""},
	{"relative symlink to a file outside", extTensor("location", "rel.data"),
		func(t *testing.T, dir, _ string) { symlink(t, "../outside/w.data", filepath.Join(dir, "rel.data")) },
		`external data location "rel.data" leaves the model's folder`, ""},
	{"symlinked folder outside", extTensor("location", "weights/w.data"),
		func(t *testing.T, dir, outside string) { symlink(t, outside, filepath.Join(dir, "weights")) },
		`external data location "weights/w.data" leaves the model's folder`, ""},
	{"missing file", extTensor("location", "nothere.data"), noSetup, `external data file "nothere.data": `, ""},
	{"file too short", extTensor("location", "short.data"),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "short.data"), 8) },
		`external data "short.data" holds 8 bytes; the tensor needs 16 at offset 0`, ""},
	{"offset past the data", extTensor("location", "w.data", "offset", "12"),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`external data "w.data" holds 16 bytes; the tensor needs 16 at offset 12`, ""},
	{"offset near 2^63", extTensor("location", "w.data", "offset", "9223372036854775800"),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`external data "w.data" holds 16 bytes; the tensor needs 16 at offset 9223372036854775800`, ""},
	{"offset not an integer", extTensor("location", "w.data", "offset", "abc"), noSetup, `external data offset "abc" is not a non-negative integer`, ""},
	{"offset negative", extTensor("location", "w.data", "offset", "-4"), noSetup, `external data offset "-4" is not a non-negative integer`, ""},
	{"offset past int64", extTensor("location", "w.data", "offset", "99999999999999999999"), noSetup, `external data offset "99999999999999999999" is not a non-negative integer`, ""},
	{"length not an integer", extTensor("location", "w.data", "length", "1.5e1"), noSetup, `external data length "1.5e1" is not a non-negative integer`, ""},
	{"length negative", extTensor("location", "w.data", "length", "-16"), noSetup, `external data length "-16" is not a non-negative integer`, ""},
	{"length disagrees with dims", extTensor("location", "w.data", "length", "8"),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`external data length 8 disagrees with dims [4] of FLOAT (16 bytes)`, ""},
	{"STRING tensor", with(extTensor("location", "w.data"), func(t *onnxpb.TensorProto) { t.DataType = dtype(onnxpb.TensorProto_STRING) }),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`STRING tensors cannot be stored as external data`, ""},
	{"location is a folder", extTensor("location", "adir"),
		func(t *testing.T, dir, _ string) { os.Mkdir(filepath.Join(dir, "adir"), 0o755) },
		`external data "adir" is not a regular file but a folder`, ""},
	{"no location", extTensor("offset", "0"), noSetup, `external data has no location`, ""},
	{"location with a NUL byte", extTensor("location", "w.data\x00.txt"), noSetup, `external data location "w.data\x00.txt" contains a NUL byte`, ""},
	{"external data and raw_data", with(extTensor("location", "w.data"), func(t *onnxpb.TensorProto) { t.RawData = make([]byte, 16) }),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`is stored as external data but also holds values in the file (raw_data)`, ""},
	{"huge tensor in a small file", with(extTensor("location", "w.data"), func(t *onnxpb.TensorProto) { t.Dims = []int64{1 << 40} }),
		func(t *testing.T, dir, _ string) { writeBytes(t, filepath.Join(dir, "w.data"), 16) },
		`external data "w.data" holds 16 bytes; the tensor needs 4398046511104 at offset 0`,
		"has 1099511627776 elements, more than onnxq holds in memory"},
}

// TestHostileExternalData builds a model folder for each hostile external
// data reference and checks that Load refuses it, naming the tensor and the
// problem; and that reading the tensor without Load's checks
// (ReadTensorData, graph.FromONNX on an unchecked model) refuses it too.
func TestHostileExternalData(t *testing.T) {
	for _, c := range hostileExternals {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir, outside := filepath.Join(root, "model"), filepath.Join(root, "outside")
			for _, d := range []string{dir, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeBytes(t, filepath.Join(outside, "w.data"), 16)
			tensor := c.tensor
			if tensor == nil { // the absolute path of the outside file
				tensor = extTensor("location", filepath.Join(outside, "w.data"))
			}
			c.setup(t, dir, outside)
			m := modelWith(tensor)
			p := writeModel(t, dir, "model.onnx", m)

			_, err := onnxio.Load(p)
			assertErr(t, err, "load "+p+`: tensor initializer "ext_w": `, c.want)

			unchecked := &onnxio.Model{Proto: m, Path: p, Dir: dir}
			_, err = unchecked.ReadTensorData(tensor)
			assertErr(t, err, `tensor "ext_w": `, c.want)
			wantIR := c.wantIR
			if wantIR == "" {
				wantIR = c.want
			}
			_, err = graph.FromONNX(unchecked)
			assertErr(t, err, `initializer "ext_w"`, wantIR)
		})
	}
}

// TestExternalDataWithoutFolder checks that a model decoded from memory
// that refers to external data loads (its bytes are well formed) but says
// why its data cannot be read.
func TestExternalDataWithoutFolder(t *testing.T) {
	m, err := onnxio.Decode(mustMarshal(t, modelWith(extTensor("location", "w.data"))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.ReadTensorData(m.Proto.Graph.Initializer[0])
	assertErr(t, err, `tensor "ext_w": stored as external data, but the model was not loaded from a file`)
	_, err = graph.FromONNX(m)
	assertErr(t, err, `initializer "ext_w"`, "not loaded from a file")
}
