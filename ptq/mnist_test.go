package ptq

import (
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// mnistSource returns MNIST images prepared for mnist-7.
func mnistSource(t testing.TB, file string, n int) dataset.Source {
	t.Helper()
	src, err := dataset.OpenMNIST(testdata.Path(t, "mnist/"+file), dataset.MNISTPresets["mnist-7"])
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 && n < src.Len() {
		s, err := dataset.Slice(src, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return src
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

func TestQuantizeMNISTRuns(t *testing.T) {
	m, err := graph.FromFile(testdata.Path(t, "mnist-7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Quantize(m, mnistSource(t, "train-images-idx3-ubyte.gz", 200), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opset %d, %d quantized, %d float, passes %v", res.Opset, res.Quantized, res.Float, res.Passes)
	for _, n := range res.Nodes {
		t.Logf("%s %s %v %s", n.Name, n.OpType, n.Quantized, n.Reason)
	}
	prog, err := engine.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	test := mnistSource(t, "t10k-images-idx3-ubyte.gz", 0)
	labels, err := dataset.ReadIDXLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := 0; i < test.Len(); i++ {
		s, _ := test.Sample(i)
		out, err := prog.Run(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if argmax(out["Plus214_Output_0"].Data.([]float32)) == labels[i] {
			correct++
		}
	}
	t.Logf("quantized mnist-7 top-1 (Go engine) %.2f%%", 100*float64(correct)/float64(test.Len()))
	path := t.TempDir() + "/q.onnx"
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	testdata.Written(t, path)
}
