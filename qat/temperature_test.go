package qat

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// TestAutoTemperature checks the automatic temperature: on mnist-7, whose
// logits spread over thousands (raw 0..255 pixels in), it is the median
// row standard deviation of the teacher's logits (~2400 on the training
// images) over 4; on the hand-built network, whose logits differ by ~3,
// it is the floor of 1. A resumed run keeps the temperature of the run it
// continues even though the model it measures has changed.
func TestAutoTemperature(t *testing.T) {
	tm, err := ToTraining(mnistQDQ(t, 8, 8, 20))
	if err != nil {
		t.Fatal(err)
	}
	data := Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 0, 64), Teacher: mnistTeacher(t)}
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	res, err := Train(tm, data, Config{Loss: DistillKL, BatchSize: 16, MaxSteps: 2, CheckpointPath: ckpt})
	if err != nil {
		t.Fatal(err)
	}
	if res.Temperature < 400 || res.Temperature > 1000 {
		t.Errorf("mnist-7 distillation temperature %g, want the teacher's logit spread over 4 (~600)", res.Temperature)
	}
	again, err := Train(tm, data, Config{Loss: DistillKL, BatchSize: 16, Epochs: 1, CheckpointPath: ckpt, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Temperature != res.Temperature {
		t.Errorf("resumed with temperature %g, the run it continues used %g", again.Temperature, res.Temperature)
	}
	ty := newTiny()
	tiny, err := ToTraining(ty.model())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := engine.Compile(tiny.Model)
	if err != nil {
		t.Fatal(err)
	}
	x := graph.MustTensor(graph.Float, []int64{1, 4}, f32s([]float64{1.013, -2.121, 0.537, 3.011}))
	out, err := prog.Run(map[string]*graph.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := out[tiny.Model.Graph.Outputs[0].Name].Data.([]float32)
	want := math.Max(1, math.Abs(float64(z[0])-float64(z[1]))/2/autoTemperatureSpread)
	src, lab := tinyData([][4]float64{{1.013, -2.121, 0.537, 3.011}}, []int{1})
	res, err = Train(tiny, Data{Inputs: src, Labels: lab}, Config{MaxSteps: 1, Optimizer: SGD, LR: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Temperature-want) > 1e-6*want {
		t.Errorf("tiny network temperature %g, want %g", res.Temperature, want)
	}
}
