package qat

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// levelsUsed returns, for a weight FakeQuant, the largest number of
// distinct values its output takes in any one channel.
func levelsUsed(t *testing.T, fq *FakeQuantInfo) int {
	t.Helper()
	n := fq.Node
	out, err := fakeQuantForward(&engine.Context{Node: n}, []*graph.Tensor{fq.Input.Const, fq.Scale.Const, fq.Zero.Const})
	if err != nil {
		t.Fatal(err)
	}
	l, err := layoutOf(n, fq.Input.Const, fq.Scale.Const)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[int]map[float32]bool{}
	for i, v := range out[0].Data.([]float32) {
		k := l.index(i)
		if sets[k] == nil {
			sets[k] = map[float32]bool{}
		}
		sets[k][v] = true
	}
	most := 0
	for _, s := range sets {
		most = max(most, len(s))
	}
	return most
}

// TestPrecisionSchedule trains mnist-7 (8-bit PTQ) for three epochs of 96
// images with the widths going 8 -> 6 -> 4 (weights and activations). After
// each epoch every FakeQuant carries the epoch's width and no weight
// channel uses more than 2^bits levels; the model written at the end has
// int4 weights and uint4 activations (opset 21) in its standard-ONNX form
// and uint8 activations clipped to 16 levels in its ONNX Runtime form;
// both pass the ONNX checker and run in ONNX Runtime 1.30 with the top-1
// the Go engine reported for the training graph on the same 500 test
// images. (The checker's own ONNX Runtime 1.21 load is skipped for the
// standard form: at its default optimization level ONNX Runtime rejects
// uint4 activations next to MaxPool, see ortLevel.)
func TestPrecisionSchedule(t *testing.T) {
	tm, err := ToTraining(mnistQDQ(t, 8, 8, 50))
	if err != nil {
		t.Fatal(err)
	}
	test, labels := mnistImages(t, "t10k-images-idx3-ubyte.gz", 0, 500), mnistLabels(t, "t10k-labels-idx1-ubyte.gz", 0, 500)
	want := []int{8, 6, 4}
	var scores []float64
	cfg := Config{Epochs: 3, BatchSize: 16, LR: 1e-4, Loss: DistillKL, Temperature: 1000, Seed: 3,
		Bits: []BitsStep{{Epoch: 0, Weights: 8, Activations: 8}, {Epoch: 1, Weights: 6, Activations: 6}, {Epoch: 2, Weights: 4, Activations: 4}},
		Eval: func(m *graph.Model) (float64, error) {
			epoch := len(scores)
			for _, fq := range tm.FakeQuants {
				if fq.Role == Bias {
					continue
				}
				if b := fq.Node.AttrInt("bits", 0); int(b) != want[epoch] {
					return 0, fmt.Errorf("epoch %d: %s trains at %d bits, want %d", epoch, fq.Node.Name, b, want[epoch])
				}
				if fq.Role == Weight {
					if n := levelsUsed(t, fq); n > 1<<want[epoch] {
						return 0, fmt.Errorf("epoch %d: %s uses %d levels in a channel at %d bits", epoch, fq.Node.Name, n, want[epoch])
					}
				}
			}
			s := goTop1(t, m, test, labels)
			scores = append(scores, s)
			return s, nil
		}}
	res, err := Train(tm, Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 2000, 96), Teacher: mnistTeacher(t)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("top-1 on 500 test images after each epoch (8, 6, 4 bits): %.1f%%, %.1f%%, %.1f%%", 100*scores[0], 100*scores[1], 100*scores[2])
	dir := t.TempDir()
	path, onnxPath := filepath.Join(dir, "w4a4.onnx"), filepath.Join(dir, "w4a4-onnx.onnx")
	m, std := writeExported(t, tm, path, onnxPath)
	types := func(m *graph.Model) map[graph.DType]int {
		types := map[graph.DType]int{}
		m.Graph.Walk(func(n *graph.Node) bool {
			if n.OpType == "DequantizeLinear" {
				types[n.Input(2).Const.DType]++
			}
			return true
		})
		return types
	}
	if ty := types(std); ty[graph.Int4] != 3 || ty[graph.Uint4] == 0 || ty[graph.Int8]+ty[graph.Uint8] != 0 || std.Opset("") < 21 {
		t.Errorf("standard-ONNX zero point types %v at opset %d, want int4 weights and uint4 activations at opset 21", ty, std.Opset(""))
	}
	if ty := types(m); ty[graph.Int4] != 3 || ty[graph.Uint8] == 0 || ty[graph.Uint4] != 0 {
		t.Errorf("ONNX Runtime zero point types %v, want int4 weights and uint8 activations", ty)
	}
	// The checker's ONNX Runtime 1.21 loads the ONNX Runtime form only.
	testdata.CheckONNX(t, true, path)
	testdata.CheckONNX(t, false, onnxPath)
	for _, c := range []struct {
		path string
		m    *graph.Model
	}{{path, m}, {onnxPath, std}} {
		got := ortTop1(t, c.path, ortLevel(t, c.m), test, labels)
		if math.Abs(got-res.Scores[2]) > 1e-9 {
			t.Errorf("%s: ONNX Runtime top-1 %.1f%%, the Go engine reported %.1f%% during training", filepath.Base(c.path), 100*got, 100*res.Scores[2])
		}
	}
}

// TestSixBitsWritten checks a width without an ONNX type: trained at 6
// bits, the written model keeps int8 / uint8 types, with weights clamped
// to [-32, 31] steps and activations clipped before QuantizeLinear, and
// ONNX Runtime (default optimizations) scores it as the Go engine scored
// the training graph.
func TestSixBitsWritten(t *testing.T) {
	tm, err := ToTraining(mnistQDQ(t, 8, 8, 50))
	if err != nil {
		t.Fatal(err)
	}
	test, labels := mnistImages(t, "t10k-images-idx3-ubyte.gz", 500, 500), mnistLabels(t, "t10k-labels-idx1-ubyte.gz", 500, 500)
	cfg := Config{Epochs: 1, BatchSize: 16, LR: 1e-4, Loss: DistillKL, Temperature: 1000, Bits: []BitsStep{{Weights: 6, Activations: 6}},
		Eval: func(m *graph.Model) (float64, error) { return goTop1(t, m, test, labels), nil }}
	res, err := Train(tm, Data{Inputs: mnistImages(t, "train-images-idx3-ubyte.gz", 3000, 64), Teacher: mnistTeacher(t)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w6a6.onnx")
	m, _ := writeExported(t, tm, path, "")
	clips := 0
	m.Graph.Walk(func(n *graph.Node) bool {
		switch n.OpType {
		case "Clip":
			clips++
		case "DequantizeLinear":
			if n.Input(0).IsConst() && n.Input(0).Const.DType == graph.Int8 {
				q, _ := n.Input(0).Const.Int64s()
				for _, v := range q {
					if v < -32 || v > 31 {
						t.Errorf("weight %s holds %d, outside 6 bits", n.Input(0).Name, v)
						break
					}
				}
			}
		}
		return true
	})
	if clips == 0 {
		t.Errorf("no Clip limits the 6-bit activations")
	}
	testdata.CheckONNX(t, true, path)
	got := ortTop1(t, path, ortLevel(t, m), test, labels)
	t.Logf("6-bit: Go engine %.1f%%, ONNX Runtime %.1f%%", 100*res.Scores[0], 100*got)
	if math.Abs(got-res.Scores[0]) > 1e-9 {
		t.Errorf("ONNX Runtime top-1 %.1f%%, the Go engine reported %.1f%% during training", 100*got, 100*res.Scores[0])
	}
}
