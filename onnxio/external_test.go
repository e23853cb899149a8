package onnxio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// externalEntries returns the parsed external_data of every tensor of m
// stored as external data, by tensor name.
func externalEntries(t *testing.T, m *onnxpb.ModelProto) map[string]onnxio.ExternalInfo {
	t.Helper()
	out := map[string]onnxio.ExternalInfo{}
	_ = onnxio.WalkTensors(m, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			info, err := onnxio.ParseExternal(tp)
			if err != nil {
				t.Fatal(err)
			}
			out[tp.GetName()] = info
		}
		return nil
	})
	return out
}

// initializerValues decodes every initializer of the model through the IR.
func initializerValues(t *testing.T, m *onnxio.Model) map[string][]float32 {
	t.Helper()
	gm, err := graph.FromONNX(m)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]float32{}
	for _, v := range gm.Graph.Initializers {
		f, err := v.Const.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		vals[v.Name] = f
	}
	return vals
}

func sameValues(t *testing.T, want, got map[string][]float32) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d initializers, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Fatalf("initializer %s: %d values, want %d", name, len(g), len(w))
		}
		for i := range w {
			// Bit-exact: the bytes are copied, never converted.
			if g[i] != w[i] {
				t.Fatalf("initializer %s[%d] = %v, want %v", name, i, g[i], w[i])
			}
		}
	}
}

// TestSaveExternalData saves real models with their larger tensors in an
// external data file and checks the file's layout, that Load reads the
// same bytes and the IR the same values, and that the external-data model
// saves again into another folder (its data read from SourceDir): with
// external data, inlined, and through the IR. mnist-7 keeps its weights in
// float_data (Save encodes them as raw bytes to move them), blazeface in
// raw_data (inlining them again gives back the original file byte for byte).
func TestSaveExternalData(t *testing.T) {
	for _, name := range []string{"mnist-7", "blazeface-front"} {
		t.Run(name, func(t *testing.T) { checkSaveExternal(t, testdata.Path(t, testdata.RealModels[name])) })
	}
}

func checkSaveExternal(t *testing.T, src string) {
	orig, err := onnxio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	want := initializerValues(t, orig)

	const threshold = 256
	dir := t.TempDir()
	p := filepath.Join(dir, "model.onnx")
	if err := onnxio.Save(orig.Proto, p, onnxio.SaveOptions{ExternalThreshold: threshold}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p + ".data")
	if err != nil {
		t.Fatalf("Save with ExternalThreshold wrote no data file: %v", err)
	}
	saved, err := onnxio.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	ext := externalEntries(t, saved.Proto)
	moved, end, typed := 0, int64(0), false
	_ = onnxio.WalkTensors(orig.Proto, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
		raw, err := onnxio.RawBytes(tp)
		if err != nil {
			t.Fatal(err)
		}
		info, isExt := ext[tp.GetName()]
		if big := len(raw) >= threshold; big != isExt {
			t.Errorf("tensor %s (%d bytes): external = %v", tp.GetName(), len(raw), isExt)
		}
		if !isExt {
			return nil
		}
		moved++
		typed = typed || tp.RawData == nil
		if info.Location != "model.onnx.data" || info.Offset%4096 != 0 || info.Length != int64(len(raw)) {
			t.Errorf("tensor %s: external data %+v; want model.onnx.data at a 4096-aligned offset, %d bytes", tp.GetName(), info, len(raw))
		}
		if info.Offset < end {
			t.Errorf("tensor %s at offset %d overlaps the tensor before (ends at %d)", tp.GetName(), info.Offset, end)
		}
		end = info.Offset + info.Length
		if !bytes.Equal(data[info.Offset:end], raw) {
			t.Errorf("tensor %s: the data file does not hold its bytes", tp.GetName())
		}
		return nil
	})
	if moved < 2 || int64(len(data)) != end {
		t.Fatalf("%d tensors moved; data file %d bytes, last tensor ends at %d", moved, len(data), end)
	}
	t.Logf("%d tensors moved to a %d-byte data file; model file %d bytes", moved, len(data), len(mustMarshal(t, saved.Proto)))
	checkSameTensors(t, orig, saved) // ReadTensorData returns the original bytes
	sameValues(t, want, initializerValues(t, saved))

	// Into another folder, still external: the data comes from SourceDir.
	dir2 := t.TempDir()
	p2 := filepath.Join(dir2, "copy.onnx")
	if err := onnxio.Save(saved.Proto, p2, onnxio.SaveOptions{ExternalThreshold: threshold, DataFile: "copy.bin", SourceDir: saved.Dir}); err != nil {
		t.Fatal(err)
	}
	copied, err := onnxio.Load(p2)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(externalEntries(t, copied.Proto)); got != moved {
		t.Errorf("the copy has %d external tensors, want %d", got, moved)
	}
	checkSameTensors(t, orig, copied)
	sameValues(t, want, initializerValues(t, copied))

	// Inlined again: the same model; the original file byte for byte when
	// it held its tensors in raw_data.
	p3 := filepath.Join(t.TempDir(), "inline.onnx")
	if err := onnxio.Save(saved.Proto, p3, onnxio.SaveOptions{SourceDir: saved.Dir}); err != nil {
		t.Fatal(err)
	}
	inlined, err := onnxio.Load(p3)
	if err != nil {
		t.Fatal(err)
	}
	if len(externalEntries(t, inlined.Proto)) != 0 {
		t.Errorf("the inlined model still has external data")
	}
	checkSameTensors(t, orig, inlined)
	if !typed && !bytes.Equal(readFile(t, p3), readFile(t, src)) {
		t.Errorf("inlining the external data does not give back the original file")
	}

	// Through the IR: graph.Model.Save reads the data from the model's folder.
	gm, err := graph.FromONNX(saved)
	if err != nil {
		t.Fatal(err)
	}
	p4 := filepath.Join(t.TempDir(), "ir.onnx")
	if err := gm.Save(p4); err != nil {
		t.Fatal(err)
	}
	viaIR, err := onnxio.Load(p4)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, want, initializerValues(t, viaIR))
}

// TestSaveExternalDataInSubfolder checks a DataFile in a subfolder of the
// model's folder.
func TestSaveExternalDataInSubfolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "weights"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := allTypesModel()
	p := filepath.Join(dir, "m.onnx")
	if err := onnxio.Save(m, p, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "weights/all.bin"}); err != nil {
		t.Fatal(err)
	}
	back, err := onnxio.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, info := range externalEntries(t, back.Proto) {
		if info.Location != "weights/all.bin" {
			t.Errorf("tensor %s: location %q", name, info.Location)
		}
	}
	checkSameTensors(t, &onnxio.Model{Proto: m}, back)
}

// TestSaveKeepsItsInput checks that Save never changes the model it is
// given, whether it writes it as it is, moves tensors out, reads external
// data in, or fails.
func TestSaveKeepsItsInput(t *testing.T) {
	mnist, err := onnxio.Load(testdata.Path(t, testdata.RealModels["mnist-7"]))
	if err != nil {
		t.Fatal(err)
	}
	extDir := t.TempDir()
	if err := onnxio.Save(mnist.Proto, filepath.Join(extDir, "ext.onnx"), onnxio.SaveOptions{ExternalThreshold: 64}); err != nil {
		t.Fatal(err)
	}
	ext, err := onnxio.Load(filepath.Join(extDir, "ext.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		m     *onnxpb.ModelProto
		opts  onnxio.SaveOptions
		fails bool
	}{
		{"as it is", mnist.Proto, onnxio.SaveOptions{}, false},
		{"tensors moved out", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1}, false},
		{"every type moved out", allTypesModel(), onnxio.SaveOptions{ExternalThreshold: 1}, false},
		{"external data read in", ext.Proto, onnxio.SaveOptions{SourceDir: ext.Dir}, false},
		{"external data moved", ext.Proto, onnxio.SaveOptions{SourceDir: ext.Dir, ExternalThreshold: 512}, false},
		{"external data not found", ext.Proto, onnxio.SaveOptions{SourceDir: t.TempDir()}, true},
		{"bad data file", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "/abs.data"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := proto.Clone(c.m)
			var raws [][]byte // the arrays themselves, which a clone would not share
			_ = onnxio.WalkTensors(c.m, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
				raws = append(raws, append([]byte(nil), tp.RawData...))
				return nil
			})
			err := onnxio.Save(c.m, filepath.Join(t.TempDir(), "out.onnx"), c.opts)
			if (err != nil) != c.fails {
				t.Fatalf("Save: %v", err)
			}
			if !proto.Equal(before, c.m) {
				t.Fatalf("Save changed its input")
			}
			i := 0
			_ = onnxio.WalkTensors(c.m, func(_ onnxio.TensorSite, tp *onnxpb.TensorProto) error {
				if !bytes.Equal(raws[i], tp.RawData) {
					t.Errorf("Save changed the raw_data of %s", tp.GetName())
				}
				i++
				return nil
			})
		})
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFailedSaveLeavesNoFile makes Save fail at each step, before and
// after it has started writing, and checks that the target folder holds
// exactly what it held before: no partial model, data or temporary file,
// and an older model file at the same path is intact.
func TestFailedSaveLeavesNoFile(t *testing.T) {
	mnist, err := onnxio.Load(testdata.Path(t, testdata.RealModels["mnist-7"]))
	if err != nil {
		t.Fatal(err)
	}
	// A model with two external tensors whose second data file vanishes
	// after Load: Save fails in the middle of writing the new data file.
	srcDir := t.TempDir()
	two := modelWith(f32Tensor("a", []int64{256}, make([]float32, 256)...), f32Tensor("b", []int64{256}, make([]float32, 256)...))
	if err := onnxio.Save(two, filepath.Join(srcDir, "two.onnx"), onnxio.SaveOptions{ExternalThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	twoExt, err := onnxio.Load(filepath.Join(srcDir, "two.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	b := twoExt.Proto.Graph.Initializer[1]
	b.ExternalData[0].Value = proto.String("b.data") // a file of its own, then gone
	if err := os.WriteFile(filepath.Join(srcDir, "b.data"), make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	b.ExternalData[1].Value = proto.String("0")
	if _, err := twoExt.ReadTensorData(b); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(srcDir, "b.data")); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		m     *onnxpb.ModelProto
		opts  onnxio.SaveOptions
		setup func(dir string) // what the folder holds before
		want  string
	}{
		{"data file outside the folder", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "../w.data"}, nil,
			`external data location "../w.data" leaves the model's folder`},
		{"data file is the model file", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "m.onnx"}, nil,
			`external data file "m.onnx" is the model file itself`},
		{"data file in a missing subfolder", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "nosub/w.data"}, nil,
			"nosub"},
		{"data file name taken by a folder", mnist.Proto, onnxio.SaveOptions{ExternalThreshold: 1, DataFile: "taken"},
			func(dir string) { os.Mkdir(filepath.Join(dir, "taken"), 0o755) }, "taken"},
		{"source data vanished", twoExt.Proto, onnxio.SaveOptions{ExternalThreshold: 1, SourceDir: srcDir}, nil,
			`tensor initializer "b": tensor "b": external data file "b.data"`},
		{"source data vanished, inlining", twoExt.Proto, onnxio.SaveOptions{SourceDir: srcDir}, nil,
			`external data file "b.data"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			old := []byte("an older model file")
			if err := os.WriteFile(filepath.Join(dir, "m.onnx"), old, 0o644); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(dir)
			}
			before := listDir(t, dir)
			err := onnxio.Save(c.m, filepath.Join(dir, "m.onnx"), c.opts)
			assertErr(t, err, "save "+filepath.Join(dir, "m.onnx")+": ", c.want)
			if after := listDir(t, dir); strconv.Quote(fmtList(after)) != strconv.Quote(fmtList(before)) {
				t.Errorf("the folder held %v; after the failed Save it holds %v", before, after)
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "m.onnx")), old) {
				t.Errorf("the failed Save changed the older model file")
			}
		})
	}

	// Folders that cannot be written to at all (tests run as root, so a
	// read-only folder would not stop them: use paths that cannot exist).
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "missing", "m.onnx"), filepath.Join(file, "m.onnx")} {
		err := onnxio.Save(mnist.Proto, p, onnxio.SaveOptions{})
		assertErr(t, err, "save "+p+": ")
		if _, statErr := os.Stat(p); statErr == nil {
			t.Errorf("%s exists after the failed Save", p)
		}
	}
}

func fmtList(names []string) string {
	var b bytes.Buffer
	for _, n := range names {
		b.WriteString(n + "\n")
	}
	return b.String()
}
