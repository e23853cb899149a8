package qat

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// mnistOutput is mnist-7's logits output.
const mnistOutput = "Plus214_Output_0"

// mnistImages returns images [from, from+n) of an MNIST idx file prepared
// for mnist-7 (n = 0: to the end).
func mnistImages(tb testing.TB, file string, from, n int) dataset.Source {
	tb.Helper()
	src, err := dataset.OpenMNIST(testdata.Path(tb, "mnist/"+file), dataset.MNISTPresets["mnist-7"])
	if err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		n = src.Len() - from
	}
	s, err := dataset.Slice(src, from, from+n)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func mnistLabels(tb testing.TB, file string, from, n int) []int64 {
	tb.Helper()
	l, err := dataset.ReadIDXLabels(testdata.Path(tb, "mnist/"+file))
	if err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		n = len(l) - from
	}
	return l[from : from+n]
}

func mnistFloat(tb testing.TB) *graph.Model {
	tb.Helper()
	m, err := graph.FromFile(testdata.Path(tb, "mnist-7.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// mnistQDQ quantizes mnist-7 with onnxq's PTQ defaults at the given
// widths, calibrated on the first calib training images.
func mnistQDQ(tb testing.TB, wbits, abits, calib int) *graph.Model {
	tb.Helper()
	m := mnistFloat(tb)
	cfg := ptq.Defaults()
	cfg.WeightBits, cfg.ActBits = wbits, abits
	if _, err := ptq.Quantize(m, mnistImages(tb, "train-images-idx3-ubyte.gz", 0, calib), cfg); err != nil {
		tb.Fatal(err)
	}
	return m
}

// mnistTeacher compiles the float mnist-7 for distillation.
func mnistTeacher(tb testing.TB) *engine.Program {
	tb.Helper()
	p, err := engine.Compile(mnistFloat(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// goTop1 scores a model (a training model or a QDQ model) with the Go
// engine.
func goTop1(tb testing.TB, m *graph.Model, src dataset.Source, labels []int64) float64 {
	tb.Helper()
	prog, err := engine.Compile(m)
	if err != nil {
		tb.Fatal(err)
	}
	correct := 0
	for i := 0; i < src.Len(); i++ {
		s, err := src.Sample(i)
		if err != nil {
			tb.Fatal(err)
		}
		out, err := prog.Run(s, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if argmax(out[mnistOutput].Data.([]float32)) == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(src.Len())
}

func argmax(f []float32) int64 {
	best := 0
	for k := range f {
		if f[k] > f[best] {
			best = k
		}
	}
	return int64(best)
}

// initializers returns every initializer of m by name.
func initializers(m *graph.Model) map[string]*graph.Tensor {
	out := map[string]*graph.Tensor{}
	for _, v := range m.Graph.Initializers {
		out[v.Name] = v.Const
	}
	return out
}

// sameBits reports the first initializer that differs between a and b,
// comparing float data bit for bit.
func sameBits(a, b map[string]*graph.Tensor) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d initializers against %d", len(a), len(b))
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok {
			return fmt.Errorf("initializer %q is missing", name)
		}
		if x.DType != y.DType || !reflect.DeepEqual(x.Shape, y.Shape) {
			return fmt.Errorf("initializer %q: %s%v against %s%v", name, x.DType, x.Shape, y.DType, y.Shape)
		}
		if f, ok := x.Data.([]float32); ok {
			g := y.Data.([]float32)
			for i := range f {
				if math.Float32bits(f[i]) != math.Float32bits(g[i]) {
					return fmt.Errorf("initializer %q element %d: %g against %g", name, i, f[i], g[i])
				}
			}
			continue
		}
		if !reflect.DeepEqual(x.Data, y.Data) {
			return fmt.Errorf("initializer %q differs", name)
		}
	}
	return nil
}

// writeExported turns a trained model into its deployable form for ONNX
// Runtime (ToQDQ, Export) and saves it at path; with onnxPath it also
// saves the standard-ONNX form (4-bit types kept) there.
func writeExported(tb testing.TB, tm *TrainingModel, path, onnxPath string) (ortForm, onnxForm *graph.Model) {
	tb.Helper()
	if err := ToQDQ(tm); err != nil {
		tb.Fatal(err)
	}
	if onnxPath != "" {
		c, err := CloneModel(tm.Model)
		if err != nil {
			tb.Fatal(err)
		}
		if err := Export(c, ExportONNX, &rewrite.Log{}); err != nil {
			tb.Fatal(err)
		}
		if err := c.Save(onnxPath); err != nil {
			tb.Fatal(err)
		}
		onnxForm = c
	}
	if err := Export(tm.Model, ExportORT, &rewrite.Log{}); err != nil {
		tb.Fatal(err)
	}
	if err := tm.Model.Save(path); err != nil {
		tb.Fatal(err)
	}
	return tm.Model, onnxForm
}

// ortLevel is the graph optimization level a model file runs at in ONNX
// Runtime 1.30: the default (all), except for models with 4-bit
// activation types (the standard-ONNX export). ONNX Runtime's QDQ
// optimizer (extended level and above) moves their Q/DQ around MaxPool and
// then rejects the model it made ("Type 'tensor(uint4)' of input parameter
// ... of operator (MaxPool) ... is invalid"), so those run at the basic
// level, which keeps the model's own Q/DQ nodes (the arithmetic ONNX
// defines, unfused). The ONNX Runtime export does not need this (see
// widenActivations4).
func ortLevel(tb testing.TB, m *graph.Model) ort.OptLevel {
	tb.Helper()
	level := ort.OptAll
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.OpType == "QuantizeLinear" {
			if zp := n.Input(2); zp != nil && zp.IsConst() && zp.Const.DType.Bits() == 4 {
				level = ort.OptBasic
			}
		}
		return true
	})
	return level
}

// ortTop1 runs a model file in ONNX Runtime 1.30 (one thread) over src
// and returns its top-1 accuracy.
func ortTop1(tb testing.TB, path string, level ort.OptLevel, src dataset.Source, labels []int64) float64 {
	tb.Helper()
	if err := ort.Init(testdata.ORTLib(tb)); err != nil {
		tb.Fatal(err)
	}
	s, err := ort.NewSession(path, ort.Options{Threads: 1, OptLevel: level})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	correct := 0
	for i := 0; i < src.Len(); i++ {
		in, err := src.Sample(i)
		if err != nil {
			tb.Fatal(err)
		}
		out, err := s.Run(in)
		if err != nil {
			tb.Fatal(err)
		}
		if argmax(out[mnistOutput].Data.([]float32)) == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(src.Len())
}
