package ptq

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/calibrate"
	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// ortTop1 runs a model file in ONNX Runtime 1.30 (one thread, all
// optimizations) over src and returns top-1 accuracy against labels.
func ortTop1(t *testing.T, path string, src dataset.Source, labels []int64, output string) float64 {
	t.Helper()
	s, err := ort.NewSession(path, ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	correct := 0
	for i := 0; i < src.Len(); i++ {
		in, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		if argmax(out[output].Data.([]float32)) == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(src.Len())
}

// optimizedOps writes the model as ONNX Runtime optimizes it at the
// 'extended' level and returns its op types.
func optimizedOps(t *testing.T, path string) map[string]int {
	t.Helper()
	opt := filepath.Join(t.TempDir(), "optimized.onnx")
	s, err := ort.NewSession(path, ort.Options{Threads: 1, OptLevel: ort.OptExtended, OptimizedModelPath: opt})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ops, err := ort.OpTypes(opt)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestMNISTInORT is the acceptance test for mnist-7: quantized
// with 200 training images, for min-max and entropy, per tensor and per
// channel, the model passes the official checker, ONNX Runtime turns it
// into integer kernels, and its top-1 on the 10,000 test images in ONNX
// Runtime stays >= 98.8% (float: 98.91%).
func TestMNISTInORT(t *testing.T) {
	if err := ort.Init(testdata.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	test := mnistSource(t, "t10k-images-idx3-ubyte.gz", 0)
	labels, err := dataset.ReadIDXLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for _, method := range []calibrate.Method{calibrate.MinMax, calibrate.Entropy} {
		for _, perChannel := range []bool{false, true} {
			name := fmt.Sprintf("%s-perchannel=%v", method, perChannel)
			t.Run(name, func(t *testing.T) {
				m, err := graph.FromFile(testdata.Path(t, "mnist-7.onnx"))
				if err != nil {
					t.Fatal(err)
				}
				cfg := Defaults()
				cfg.Method, cfg.PerChannel = method, perChannel
				if _, err := Quantize(m, mnistSource(t, "train-images-idx3-ubyte.gz", 200), cfg); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, name+".onnx")
				if err := m.Save(path); err != nil {
					t.Fatal(err)
				}
				testdata.Written(t, path)
				paths = append(paths, path)
				ops := optimizedOps(t, path)
				integer := ops["QLinearConv"] + ops["com.microsoft:QLinearConv"]
				if integer != 2 {
					t.Errorf("ONNX Runtime's optimized model has %d QLinearConv, want 2: %s", integer, ort.FormatOpTypes(ops))
				}
				if ops["com.microsoft:QGemm"]+ops["QLinearMatMul"]+ops["com.microsoft:MatMulIntegerToFloat"] == 0 {
					t.Errorf("the Gemm does not run as an integer kernel: %s", ort.FormatOpTypes(ops))
				}
				for op := range ops {
					if op == "Conv" || op == "Gemm" || op == "MatMul" {
						t.Errorf("float %s left in the optimized model: %s", op, ort.FormatOpTypes(ops))
					}
				}
				acc := ortTop1(t, path, test, labels, "Plus214_Output_0")
				t.Logf("%s: ORT top-1 %.2f%% (ops %s)", name, 100*acc, ort.FormatOpTypes(ops))
				if acc < 0.988 {
					t.Errorf("top-1 in ONNX Runtime %.2f%% < 98.8%%", 100*acc)
				}
			})
		}
	}
	testdata.CheckONNX(t, true, paths...)
}
