package dataset

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// numpyFixtures lists the .npy files testdata/gen_fixtures.py wrote with
// numpy 1.24 and the values its formulas give.
var numpyFixtures = []struct {
	file  string
	dtype graph.DType
	shape []int64
	data  any
}{
	{"f4.npy", graph.Float, []int64{2, 3}, []float32{-1, -0.5, 0, 0.5, 1, 1.5}},
	{"f8.npy", graph.Double, []int64{4}, []float64{math.Pi, -math.E, 1e300, math.Copysign(0, -1)}},
	// float16 bit patterns of 1.5, -2, 65504 (the largest) and 2^-14
	// (the smallest normal).
	{"f2.npy", graph.Float16, []int64{2, 2}, []uint16{0x3e00, 0xc000, 0x7bff, 0x0400}},
	{"i8.npy", graph.Int64, []int64{4}, []int64{math.MinInt64, math.MaxInt64, 0, -1}},
	{"i4.npy", graph.Int32, []int64{3, 2}, []int32{-3, -2, -1, 0, 1, 2}},
	{"i2.npy", graph.Int16, []int64{3}, []int16{-32768, 32767, 7}},
	{"i1.npy", graph.Int8, []int64{2, 2}, []int8{-128, 127, 0, -1}},
	{"u1.npy", graph.Uint8, []int64{1, 2, 3}, []uint8{250, 251, 252, 253, 254, 255}},
	{"u2.npy", graph.Uint16, []int64{3}, []uint16{0, 65535, 1234}},
	{"b1.npy", graph.Bool, []int64{4}, []bool{true, false, true, true}},
	{"scalar.npy", graph.Float, []int64{}, []float32{2.5}},
	{"empty.npy", graph.Float, []int64{2, 0, 3}, []float32{}},
	{"v2.npy", graph.Int32, []int64{4}, []int32{0, 1, 2, 3}},
	{"v3.npy", graph.Int32, []int64{4}, []int32{0, 1, 2, 3}},
}

func TestReadNumpyFixtures(t *testing.T) {
	for _, f := range numpyFixtures {
		got, err := ReadNpyFile(filepath.Join("testdata", f.file))
		if err != nil {
			t.Errorf("%s: %v", f.file, err)
			continue
		}
		if got.DType != f.dtype || !reflect.DeepEqual(got.Shape, f.shape) {
			t.Errorf("%s: got %s %v, want %s %v", f.file, got.DType, got.Shape, f.dtype, f.shape)
		}
		if !sameBits(got.Data, f.data) {
			t.Errorf("%s: got %v, want %v", f.file, got.Data, f.data)
		}
	}
}

// sameBits compares data exactly, bit for bit for floats (so -0 and NaN
// payloads count).
func sameBits(a, b any) bool {
	switch x := a.(type) {
	case []float32:
		y, ok := b.([]float32)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				return false
			}
		}
		return true
	case []float64:
		y, ok := b.([]float64)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// TestEncodeNpyMatchesNumpy re-encodes each version 1.0 fixture: the bytes
// must equal what numpy's np.save wrote.
func TestEncodeNpyMatchesNumpy(t *testing.T) {
	for _, f := range numpyFixtures {
		if f.file == "v2.npy" || f.file == "v3.npy" {
			continue
		}
		path := filepath.Join("testdata", f.file)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tn, err := ReadNpyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := EncodeNpy(tn)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encoded\n%q\nnumpy wrote\n%q", f.file, got, want)
		}
	}
}

func TestNpyRejects(t *testing.T) {
	for file, want := range map[string]string{
		"fortran.npy":   "Fortran (column-major) order",
		"bigendian.npy": "big-endian",
	} {
		_, err := ReadNpyFile(filepath.Join("testdata", file))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: got error %v, want one naming the file and saying %q", file, err, want)
		}
	}
	good, err := os.ReadFile(filepath.Join("testdata", "f4.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"truncated data":   {good[:len(good)-1], "needs 24 data bytes"},
		"truncated header": {good[:40], ".npy header"},
		"not npy":          {[]byte("PK\x03\x04 hello"), "not an .npy file"},
		"version 4":        {append([]byte("\x93NUMPY\x04\x00"), good[8:]...), "version 4.0"},
		"structured":       {npyWithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "structured"},
		"complex":          {npyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "unsupported element type"},
		"bad shape":        {npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "expected a dimension"},
		"missing key":      {npyWithHeader("{'descr': '<f4', 'shape': (1,), }"), "fortran_order"},
		"huge":             {npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"), "needs 40000000000 data bytes"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "x.npy")
		os.WriteFile(p, tc.data, 0o644)
		_, err := ReadNpyFile(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one saying %q", name, err, tc.want)
		}
		// The stream reader (no size known) must fail the same way.
		if _, err := ReadNpy(bytes.NewReader(tc.data)); err == nil {
			t.Errorf("%s: ReadNpy accepted it", name)
		}
	}
}

func npyWithHeader(h string) []byte {
	b := []byte("\x93NUMPY\x01\x00")
	n := len(h) + 1
	b = append(b, byte(n), byte(n>>8))
	return append(append(b, h...), '\n')
}

// roundTripTensors has one tensor per supported element type.
func roundTripTensors() map[string]*graph.Tensor {
	return map[string]*graph.Tensor{
		"f4":  graph.MustTensor(graph.Float, []int64{2, 2}, []float32{1, float32(math.Inf(-1)), float32(math.NaN()), -0.0}),
		"f8":  graph.MustTensor(graph.Double, []int64{3}, []float64{math.MaxFloat64, math.SmallestNonzeroFloat64, -1}),
		"f2":  graph.MustTensor(graph.Float16, []int64{2}, []uint16{0x3c00, 0xfc00}),
		"i8":  graph.MustTensor(graph.Int64, []int64{2, 1}, []int64{math.MinInt64, 42}),
		"i4":  graph.MustTensor(graph.Int32, []int64{2}, []int32{math.MinInt32, math.MaxInt32}),
		"i2":  graph.MustTensor(graph.Int16, []int64{1, 1, 2}, []int16{-5, 5}),
		"i1":  graph.MustTensor(graph.Int8, []int64{3}, []int8{-128, 0, 127}),
		"u1":  graph.MustTensor(graph.Uint8, []int64{3}, []uint8{0, 128, 255}),
		"u2":  graph.MustTensor(graph.Uint16, []int64{2}, []uint16{0, 65535}),
		"u4":  graph.MustTensor(graph.Uint32, []int64{1}, []uint32{math.MaxUint32}),
		"u8":  graph.MustTensor(graph.Uint64, []int64{1}, []uint64{math.MaxUint64}),
		"b1":  graph.MustTensor(graph.Bool, []int64{2}, []bool{false, true}),
		"0d":  graph.MustTensor(graph.Int64, []int64{}, []int64{-7}),
		"nil": graph.MustTensor(graph.Float, []int64{0}, []float32{}),
	}
}

func TestNpyRoundTripEveryDType(t *testing.T) {
	dir := t.TempDir()
	for name, want := range roundTripTensors() {
		p := filepath.Join(dir, name+".npy")
		if err := WriteNpyFile(p, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := ReadNpyFile(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !sameBits(got.Data, want.Data) {
			t.Errorf("%s: wrote %s %v %v, read %s %v %v", name, want.DType, want.Shape, want.Data, got.DType, got.Shape, got.Data)
		}
		b, _ := os.ReadFile(p)
		if hl := 10 + int(b[8]) + int(b[9])<<8; hl%npyAlign != 0 {
			t.Errorf("%s: data starts at %d, not %d-byte aligned", name, hl, npyAlign)
		}
	}
	if _, err := EncodeNpy(graph.MustTensor(graph.Int4, []int64{2}, []int8{1, 2})); err == nil || !strings.Contains(err.Error(), "INT4") {
		t.Errorf("INT4: got %v, want an error naming the type", err)
	}
}

// TestNpyVersion2Header writes a header too long for format 1.0: numpy
// then uses 2.0 (4-byte header length), and so must onnxq.
func TestNpyVersion2Header(t *testing.T) {
	shape := make([]int64, 30000)
	for i := range shape {
		shape[i] = 1
	}
	want := graph.MustTensor(graph.Uint8, shape, []uint8{9})
	b, err := EncodeNpy(want)
	if err != nil {
		t.Fatal(err)
	}
	if b[6] != 2 || b[7] != 0 {
		t.Fatalf("version %d.%d, want 2.0", b[6], b[7])
	}
	if hl := 12 + int(b[8]) | int(b[9])<<8 | int(b[10])<<16; hl%npyAlign != 0 {
		t.Errorf("data starts at %d, not aligned", hl)
	}
	got, err := ReadNpy(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Shape) != len(shape) || got.Data.([]uint8)[0] != 9 {
		t.Errorf("read back rank %d data %v", len(got.Shape), got.Data)
	}
}
