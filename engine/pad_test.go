package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestPadModes checks every mode on a 1-D input, including pads wider
// than the input (reflect and wrap repeat) and negative pads (crop).
func TestPadModes(t *testing.T) {
	x := graph.MustTensor(graph.Int32, []int64{4}, []int32{1, 2, 3, 4})
	cases := []struct {
		mode string
		pads []int64
		want string
	}{
		{"constant", []int64{2, 1}, "[9 9 1 2 3 4 9]"},
		{"edge", []int64{2, 1}, "[1 1 1 2 3 4 4]"},
		{"reflect", []int64{2, 1}, "[3 2 1 2 3 4 3]"},
		{"reflect", []int64{5, 4}, "[2 3 4 3 2 1 2 3 4 3 2 1 2]"},
		{"wrap", []int64{5, 2}, "[4 1 2 3 4 1 2 3 4 1 2]"},
		{"constant", []int64{-1, 2}, "[2 3 4 9 9]"},
		{"edge", []int64{1, -2}, "[1 1 2]"},
	}
	for _, c := range cases {
		in := []*graph.Tensor{x, graph.MustTensor(graph.Int64, []int64{2}, c.pads), graph.MustTensor(graph.Int32, nil, []int32{9})}
		got := runOp(t, "Pad", 19, map[string]any{"mode": c.mode}, 1, in)[0]
		if fmt.Sprint(got.Data) != c.want {
			t.Errorf("%s %v: %v, want %s", c.mode, c.pads, got.Data, c.want)
		}
	}
}

// TestPadAxesAndOldOpsets: opset 18 axes (negative too) and the opset 2
// attributes give the same result as full pads.
func TestPadAxesAndOldOpsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	x := randTensor(rng, 2, 3, 4)
	full := runOp(t, "Pad", 13, nil, 1, []*graph.Tensor{x, graph.MustTensor(graph.Int64, []int64{6}, []int64{0, 1, 0, 0, 2, 0}), graph.Scalar(1.5)})[0]
	axes := runOp(t, "Pad", 18, nil, 1, []*graph.Tensor{x, graph.MustTensor(graph.Int64, []int64{2}, []int64{1, 2}), graph.Scalar(1.5), graph.MustTensor(graph.Int64, []int64{1}, []int64{-2})})[0]
	old := runOp(t, "Pad", 2, map[string]any{"pads": []int64{0, 1, 0, 0, 2, 0}, "value": float32(1.5)}, 1, []*graph.Tensor{x})[0]
	for name, got := range map[string]*graph.Tensor{"axes": axes, "opset 2": old} {
		if err := allClose(got, full, 0, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fmt.Sprint(full.Shape) != "[2 6 4]" {
		t.Errorf("shape %v, want [2 6 4]", full.Shape)
	}
}

func TestPadGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, mode := range []string{"constant", "reflect", "edge", "wrap"} {
		t.Run(mode, func(t *testing.T) {
			in := []*graph.Tensor{randTensor(rng, 2, 3, 4), graph.MustTensor(graph.Int64, []int64{6}, []int64{0, 2, -1, 1, 3, 2})}
			checkGrad(t, gradCase{op: "Pad", opset: 19, attrs: map[string]any{"mode": mode}, inputs: in, wrt: []int{0}, eps: 0.5})
		})
	}
}
