package ort

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// initORT loads the library from $ONNXRUNTIME_LIB or the reference data
// folder; a missing library fails the test.
func initORT(t *testing.T) {
	t.Helper()
	lib := os.Getenv(LibraryEnv)
	if lib == "" {
		lib = testdata.Path(t, "ort/libonnxruntime.so.1")
	}
	if err := Init(lib); err != nil {
		t.Fatal(err)
	}
}

func TestInit(t *testing.T) {
	if Version() == "" {
		// Failures that leave the runtime unloaded, so they can be retried.
		t.Setenv(LibraryEnv, "")
		for path, want := range map[string]string{
			"":                               "set ONNXRUNTIME_LIB",
			"/nonexistent/libonnxruntime.so": "/nonexistent/libonnxruntime.so (from --ort-lib): no such file",
			testdata.Path(t, "mnist-7.onnx"): "loading ONNX Runtime from " + testdata.Path(t, "mnist-7.onnx") + " (from --ort-lib): invalid ELF header",
			filepath.Dir(testdata.Path(t, "mnist-7.onnx")): "is a folder",
			libc(t): libc(t) + " (from --ort-lib) is not an ONNX Runtime library",
		} {
			if err := Init(path); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Init(%q): %v, want an error saying %q", path, err, want)
			}
		}
	}
	// A library older than the C API asked for (played by asking 1.30 for
	// a version from the future).
	lib := os.Getenv(LibraryEnv)
	if lib == "" {
		lib = testdata.Path(t, "ort/libonnxruntime.so.1")
	}
	if _, err := load(lib, lib, 1000); err == nil || !strings.Contains(err.Error(), "is too old: it does not provide C API version 1000") || !strings.Contains(err.Error(), lib) {
		t.Errorf("load with C API version 1000: %v", err)
	}
	initORT(t)
	if v := Version(); !strings.HasPrefix(v, "1.") {
		t.Errorf("Version() = %q", v)
	}
	t.Logf("ONNX Runtime %s", Version())
	// Idempotent with the same library (or none); an error with another.
	initORT(t)
	if err := Init(""); err != nil {
		t.Errorf("Init(\"\") after loading: %v", err)
	}
	link := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}
	if err := Init(link); err != nil {
		t.Errorf("Init with a link to the loaded library: %v", err)
	}
	if err := Init("/nonexistent/libonnxruntime.so"); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("Init with another library: %v", err)
	}
}

// libc returns the path of the C library this process has loaded (purego
// loads it, cgo or not): a shared library that is not ONNX Runtime.
func libc(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if p := fields[len(fields)-1]; strings.HasPrefix(filepath.Base(p), "libc.so") {
			return p
		}
	}
	t.Fatal("no libc.so in /proc/self/maps")
	return ""
}

// TestMnist7ReferenceOutputs runs mnist-7 on its three reference input
// files and compares with the reference outputs (made by CNTK). The logits
// reach 6.6e3, where one float32 ulp is 4.9e-4, and another runtime sums in
// another order: the tolerance is 1e-3 absolute plus 1e-6 relative (about
// two ulps at the largest logit). Measured with ORT 1.30: 7.9e-4 at most.
func TestMnist7ReferenceOutputs(t *testing.T) {
	initORT(t)
	s, err := NewSession(testdata.Path(t, "mnist-7.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !reflect.DeepEqual(s.InputNames(), []string{"Input3"}) || !reflect.DeepEqual(s.OutputNames(), []string{"Plus214_Output_0"}) {
		t.Fatalf("inputs %v outputs %v", s.InputNames(), s.OutputNames())
	}
	sets, err := dataset.OpenTestDataSets(testdata.Path(t, "mnist-7"), s.InputNames(), s.OutputNames())
	if err != nil {
		t.Fatal(err)
	}
	for i := range sets.Len() {
		in, err := sets.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		want, err := sets.Expected(i)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		g, w := got["Plus214_Output_0"], want["Plus214_Output_0"]
		if !reflect.DeepEqual(g.Shape, w.Shape) {
			t.Fatalf("set %d: shape %v, want %v", i, g.Shape, w.Shape)
		}
		maxAbs := 0.0
		for k, v := range g.Data.([]float32) {
			ref := float64(w.Data.([]float32)[k])
			d := math.Abs(float64(v) - ref)
			maxAbs = math.Max(maxAbs, d)
			if d > 1e-3+1e-6*math.Abs(ref) {
				t.Errorf("set %d logit %d: %v, reference %v", i, k, v, ref)
			}
		}
		t.Logf("set %d: max abs error %.3g", i, maxAbs)
	}
}

// TestPPOCRDetOnImage runs the PP-OCRv4 text detector on a real photo with
// text in it (messi5.jpg: advertising boards), preprocessed as PaddleOCR
// does.
func TestPPOCRDetOnImage(t *testing.T) {
	initORT(t)
	s, err := NewSession(testdata.Path(t, testdata.RealModels["ppocr-det"]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	imgs, err := dataset.NewImages([]string{filepath.Join(testdata.Path(t, "images"), "messi5.jpg")}, dataset.ImagePresets["ppocr-det"])
	if err != nil {
		t.Fatal(err)
	}
	in, err := imgs.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	prob := out["sigmoid_0.tmp_0"]
	// One probability map at the input's resolution (548x342 -> 544x352).
	if prob == nil || !reflect.DeepEqual(prob.Shape, []int64{1, 1, 352, 544}) {
		t.Fatalf("output %v", prob)
	}
	text := 0
	for _, v := range prob.Data.([]float32) {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("probability %v outside [0, 1]", v)
		}
		if v > 0.3 { // DBNet's default binarization threshold
			text++
		}
	}
	// Measured: 0.29% of the pixels (the boards' letters); a photo without
	// text (squirrel_cls.jpg) stays below 1e-4 probability everywhere.
	frac := float64(text) / float64(prob.Len())
	t.Logf("text pixels: %.3f%%", 100*frac)
	if frac < 0.001 || frac > 0.05 {
		t.Errorf("%.3f%% of the pixels are text, want between 0.1%% and 5%%", 100*frac)
	}
	// One thread: a second run gives the same bits.
	again, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again["sigmoid_0.tmp_0"].Data, prob.Data) {
		t.Error("two runs on one thread differ")
	}
}

// TestOptimizedModel writes the model ONNX Runtime runs at the 'extended'
// level and lists its op types: the fusions show up there.
func TestOptimizedModel(t *testing.T) {
	initORT(t)
	src := testdata.Path(t, "mnist-7.onnx")
	opt := filepath.Join(t.TempDir(), "mnist-7.opt.onnx")
	s, err := NewSession(src, Options{OptLevel: OptExtended, OptimizedModelPath: opt})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	before, err := OpTypes(src)
	if err != nil {
		t.Fatal(err)
	}
	after, err := OpTypes(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("original:  %s", FormatOpTypes(before))
	t.Logf("optimized: %s", FormatOpTypes(after))
	if after["Conv"]+after["com.microsoft:FusedConv"] != before["Conv"] {
		t.Errorf("the %d Conv nodes are not all in the optimized model: %s", before["Conv"], FormatOpTypes(after))
	}
	if reflect.DeepEqual(before, after) {
		t.Error("the 'extended' level changed nothing")
	}
	// The optimized model runs and gives the same logits.
	s2, err := NewSession(opt, Options{OptLevel: OptDisabled})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sets, _ := dataset.OpenTestDataSets(testdata.Path(t, "mnist-7"), s2.InputNames(), s2.OutputNames())
	in, _ := sets.Sample(0)
	want, _ := sets.Expected(0)
	got, err := s2.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range got["Plus214_Output_0"].Data.([]float32) {
		if d := math.Abs(float64(v - want["Plus214_Output_0"].Data.([]float32)[k])); d > 1e-3 {
			t.Errorf("optimized model logit %d off by %g", k, d)
		}
	}
}

// TestElementTypes passes one tensor of every supported type through
// Identity nodes (and a rank-0 one through Add) and expects it back bit
// for bit.
func TestElementTypes(t *testing.T) {
	initORT(t)
	inputs := map[string]*graph.Tensor{
		"f32":  graph.MustTensor(graph.Float, []int64{2, 2}, []float32{1.5, -0, float32(math.Inf(1)), 3}),
		"f64":  graph.MustTensor(graph.Double, []int64{2}, []float64{math.Pi, -1e300}),
		"f16":  graph.MustTensor(graph.Float16, []int64{3}, []uint16{0x3c00, 0xc000, 0x7bff}),
		"bf16": graph.MustTensor(graph.BFloat16, []int64{2}, []uint16{0x3f80, 0xff80}),
		"f8":   graph.MustTensor(graph.Float8E4M3FN, []int64{3}, []uint8{0x38, 0xb8, 0x7e}),
		"u16":  graph.MustTensor(graph.Uint16, []int64{2}, []uint16{0, 65535}),
		"u32":  graph.MustTensor(graph.Uint32, []int64{2}, []uint32{1, math.MaxUint32}),
		"u64":  graph.MustTensor(graph.Uint64, []int64{1}, []uint64{math.MaxUint64}),
		"i16":  graph.MustTensor(graph.Int16, []int64{2}, []int16{math.MinInt16, 3}),
		"i64":  graph.MustTensor(graph.Int64, []int64{2}, []int64{math.MinInt64, 7}),
		"i32":  graph.MustTensor(graph.Int32, []int64{1, 2}, []int32{math.MaxInt32, -1}),
		"u8":   graph.MustTensor(graph.Uint8, []int64{3}, []uint8{0, 128, 255}),
		"i8":   graph.MustTensor(graph.Int8, []int64{2}, []int8{-128, 127}),
		"bool": graph.MustTensor(graph.Bool, []int64{3}, []bool{true, false, true}),
		"zero": graph.MustTensor(graph.Float, []int64{0, 3}, []float32{}),
		"s":    graph.MustTensor(graph.Int64, []int64{}, []int64{40}),
	}
	b := graph.NewBuilder(19) // Identity takes float8 from opset 19
	var outs []*graph.Value
	for _, name := range []string{"f32", "f64", "f16", "bf16", "f8", "i64", "i32", "i16", "u8", "u16", "u32", "u64", "i8", "bool", "zero", "s"} {
		tn := inputs[name]
		in := b.Input(name, tn.DType, tn.Shape...)
		var out *graph.Value
		if name == "s" {
			out = b.Op("Add", []*graph.Value{in, b.Int64s("two", []int64{}, 2)}, nil)
		} else {
			out = b.Op("Identity", []*graph.Value{in}, nil)
		}
		graph.SetType(out, tn.DType, tn.Shape...)
		outs = append(outs, out)
	}
	b.Output(outs...)
	path := filepath.Join(t.TempDir(), "types.onnx")
	if err := b.Model().Save(path); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range s.InputNames() {
		want := inputs[name]
		if name == "s" {
			want = graph.MustTensor(graph.Int64, []int64{}, []int64{42})
		}
		g := got[s.OutputNames()[i]]
		if g == nil || g.DType != want.DType || !reflect.DeepEqual(g.Shape, want.Shape) || !reflect.DeepEqual(g.RawBytes(), want.RawBytes()) {
			t.Errorf("%s: got %+v, want %+v", name, g, want)
		}
	}

	// The same model from bytes.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSessionFromBytes("types.onnx", raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Run(inputs); err != nil {
		t.Error(err)
	}
}

func TestRunErrors(t *testing.T) {
	initORT(t)
	s, err := NewSession(testdata.Path(t, "mnist-7.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := graph.MustTensor(graph.Float, []int64{1, 1, 28, 28}, make([]float32, 784))
	for name, tc := range map[string]struct {
		in   map[string]*graph.Tensor
		want string
	}{
		"missing": {map[string]*graph.Tensor{}, `no tensor for input "Input3"`},
		"extra":   {map[string]*graph.Tensor{"Input3": x, "y": x}, `not model inputs: "y"`},
		"dtype":   {map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Double, []int64{1, 1, 28, 28}, make([]float64, 784))}, `is DOUBLE, the model wants FLOAT`},
		"shape":   {map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Float, []int64{784}, make([]float32, 784))}, `has shape [784]`},
	} {
		_, err := s.Run(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "mnist-7.onnx") {
			t.Errorf("%s: error %v, want one naming the model and saying %q", name, err, tc.want)
		}
	}
	if _, err := NewSession(filepath.Join(t.TempDir(), "none.onnx"), Options{}); err == nil {
		t.Error("a missing model file was accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if _, err := NewSession(bad, Options{}); err == nil || !strings.Contains(err.Error(), "bad.onnx") {
		t.Errorf("a corrupt model: %v", err)
	}
	if _, err := s.Run(map[string]*graph.Tensor{"Input3": nil}); err == nil || !strings.Contains(err.Error(), `no tensor for input "Input3"`) {
		t.Errorf("a nil input tensor: %v", err)
	}
	if _, err := NewSessionFromBytes("empty.onnx", nil, Options{}); err == nil || !strings.Contains(err.Error(), "empty.onnx: the model is empty") {
		t.Errorf("an empty model: %v", err)
	}
	if _, err := NewSession(testdata.Path(t, "mnist-7.onnx"), Options{Threads: -1}); err == nil || !strings.Contains(err.Error(), "Threads is -1") {
		t.Errorf("Threads -1: %v", err)
	}

	// A model ONNX Runtime refuses (an operator it does not know): the
	// error names the model and carries ONNX Runtime's reason.
	b := graph.NewBuilder(17)
	in := b.Input("x", graph.Float, 2)
	y := b.Op("NoSuchOp", []*graph.Value{in}, nil)
	graph.SetType(y, graph.Float, 2)
	b.Output(y)
	unknown := filepath.Join(t.TempDir(), "unknown-op.onnx")
	if err := b.Model().Save(unknown); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(unknown, Options{}); err == nil || !strings.Contains(err.Error(), unknown+": ONNX Runtime cannot load the model: ") || !strings.Contains(err.Error(), "NoSuchOp") {
		t.Errorf("a model with an unknown operator: %v", err)
	}

	// Element types that cannot cross are refused before ONNX Runtime
	// sees them.
	b = graph.NewBuilder(17)
	str := b.Op("Identity", []*graph.Value{b.Input("s", graph.String, 1)}, nil)
	graph.SetType(str, graph.String, 1)
	b.Output(str)
	strModel := filepath.Join(t.TempDir(), "string.onnx")
	if err := b.Model().Save(strModel); err != nil {
		t.Fatal(err)
	}
	ss, err := NewSession(strModel, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Run(map[string]*graph.Tensor{"s": graph.MustTensor(graph.String, []int64{1}, []string{"a"})}); err == nil || !strings.Contains(err.Error(), `input "s": STRING tensors are not supported`) {
		t.Errorf("a STRING input: %v", err)
	}
	ss.Close()

	// A closed session says so; closing twice is harmless.
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run(map[string]*graph.Tensor{"Input3": x0(t)}); err == nil || !strings.Contains(err.Error(), "the session is closed") {
		t.Errorf("Run after Close: %v", err)
	}

	if _, err := ParseOptLevel("fast"); err == nil {
		t.Error("ParseOptLevel accepted fast")
	}
	if l, err := ParseOptLevel("Extended"); err != nil || l != OptExtended {
		t.Errorf("ParseOptLevel(Extended) = %v, %v", l, err)
	}
}

// x0 is mnist-7's first reference input.
func x0(t *testing.T) *graph.Tensor {
	t.Helper()
	sets, err := dataset.OpenTestDataSets(testdata.Path(t, "mnist-7"), []string{"Input3"}, []string{"Plus214_Output_0"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := sets.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	return in["Input3"]
}

// TestConcurrentRuns runs one session from four goroutines at once, each on
// its own inputs, and expects every result bit for bit as a lone run gives
// it (one intra-op thread: the same summation order).
func TestConcurrentRuns(t *testing.T) {
	initORT(t)
	s, err := NewSession(testdata.Path(t, "mnist-7.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := x0(t).Data.([]float32)
	inputs := make([]map[string]*graph.Tensor, 4)
	want := make([]*graph.Tensor, len(inputs))
	for i := range inputs {
		x := make([]float32, len(base))
		for k, v := range base {
			x[k] = v * float32(i+1) / 4
		}
		inputs[i] = map[string]*graph.Tensor{"Input3": graph.MustTensor(graph.Float, []int64{1, 1, 28, 28}, x)}
		out, err := s.Run(inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out["Plus214_Output_0"]
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(inputs))
	for i := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				out, err := s.Run(inputs[i])
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(out["Plus214_Output_0"].Data, want[i].Data) {
					errs <- fmt.Errorf("goroutine %d: %v, alone %v", i, out["Plus214_Output_0"].Data, want[i].Data)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
