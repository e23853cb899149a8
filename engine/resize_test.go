package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func f32s(v ...float32) *graph.Tensor {
	return graph.MustTensor(graph.Float, []int64{int64(len(v))}, v)
}
func i64s(v ...int64) *graph.Tensor { return graph.MustTensor(graph.Int64, []int64{int64(len(v))}, v) }

// resizeCases cover every mode with several coordinate transformations,
// up- and downsampling, scales and sizes.
var resizeCases = []struct {
	attrs       map[string]any
	x           []int64
	roi, scales *graph.Tensor
	sizes       *graph.Tensor
}{
	{map[string]any{"mode": "linear"}, []int64{1, 2, 3, 4}, nil, f32s(1, 1, 2, 1.5), nil},
	{map[string]any{"mode": "linear", "coordinate_transformation_mode": "align_corners"}, []int64{2, 1, 4, 5}, nil, nil, i64s(2, 1, 3, 7)},
	{map[string]any{"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, []int64{1, 1, 5, 4}, nil, f32s(1, 1, 0.6, 2), nil},
	{map[string]any{"mode": "linear", "coordinate_transformation_mode": "asymmetric"}, []int64{1, 2, 3, 3, 2}, nil, f32s(1, 1, 2, 1, 2), nil},
	{map[string]any{"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": float32(3)}, []int64{1, 1, 4, 4}, f32s(0, 0, -0.2, 0.3, 1, 1, 0.9, 1.2), nil, i64s(1, 1, 5, 4)},
	{map[string]any{"mode": "cubic"}, []int64{1, 1, 4, 5}, nil, f32s(1, 1, 1.5, 0.8), nil},
	{map[string]any{"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": float32(-0.5)}, []int64{1, 1, 5, 4}, nil, nil, i64s(1, 1, 8, 3)},
	{map[string]any{"mode": "nearest"}, []int64{1, 2, 3, 4}, nil, f32s(1, 1, 2.5, 0.5), nil},
	{map[string]any{"mode": "nearest", "nearest_mode": "ceil", "coordinate_transformation_mode": "align_corners"}, []int64{1, 1, 4, 3}, nil, nil, i64s(1, 1, 7, 5)},
}

func resizeInputs(rng *rand.Rand, i int) []*graph.Tensor {
	c := resizeCases[i]
	return []*graph.Tensor{randTensor(rng, c.x...), c.roi, c.scales, c.sizes}
}

func TestResizeGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for i, c := range resizeCases {
		t.Run(fmt.Sprint(i, c.attrs["mode"], c.attrs["coordinate_transformation_mode"]), func(t *testing.T) {
			// Resize is linear in X for every mode (nearest copies): the
			// central difference is exact up to rounding.
			checkGrad(t, gradCase{op: "Resize", opset: 13, attrs: c.attrs, inputs: resizeInputs(rng, i), wrt: []int{0}, eps: 0.5})
		})
	}
}

// TestResizeAxesAndAspect: opset-18 axes give the same result as scales
// for every dim, and keep_aspect_ratio_policy picks one scale.
func TestResizeAxesAndAspect(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	x := randTensor(rng, 1, 2, 4, 6)
	full := runOp(t, "Resize", 18, map[string]any{"mode": "linear"}, 1, []*graph.Tensor{x, nil, f32s(1, 1, 2, 0.5)})[0]
	axes := runOp(t, "Resize", 18, map[string]any{"mode": "linear", "axes": []int64{-1, 2}}, 1, []*graph.Tensor{x, nil, f32s(0.5, 2)})[0]
	if err := allClose(axes, full, 0, 0); err != nil {
		t.Errorf("axes: %v", err)
	}
	for policy, want := range map[string]string{"not_larger": "[1 2 6 9]", "not_smaller": "[1 2 8 12]", "stretch": "[1 2 6 12]"} {
		y := runOp(t, "Resize", 18, map[string]any{"keep_aspect_ratio_policy": policy, "axes": []int64{2, 3}}, 1, []*graph.Tensor{x, nil, nil, i64s(6, 12)})[0]
		if fmt.Sprint(y.Shape) != want {
			t.Errorf("%s: shape %v, want %s", policy, y.Shape, want)
		}
	}
}

// TestResizeNearestTypes: nearest works on integer data and gives the
// same picks as on float data.
func TestResizeNearestTypes(t *testing.T) {
	x := graph.MustTensor(graph.Uint8, []int64{1, 1, 2, 3}, []uint8{1, 2, 3, 4, 5, 6})
	y := runOp(t, "Resize", 13, map[string]any{"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}, 1, []*graph.Tensor{x, nil, f32s(1, 1, 2, 2)})[0]
	want := "[1 1 2 2 3 3 1 1 2 2 3 3 4 4 5 5 6 6 4 4 5 5 6 6]"
	if fmt.Sprint(y.Data) != want {
		t.Errorf("got %v, want %s", y.Data, want)
	}
}

// TestUpsampleAndResize10 checks the opset-7/9 Upsample and opset-10
// Resize against hand-computed results: asymmetric coordinates, nearest
// truncating when upsampling and rounding up when downsampling.
func TestUpsampleAndResize10(t *testing.T) {
	x := graph.MustTensor(graph.Float, []int64{1, 1, 1, 4}, []float32{1, 2, 3, 4})
	cases := []struct {
		op    string
		opset int64
		attrs map[string]any
		in    []*graph.Tensor
		want  string
	}{
		{"Upsample", 7, map[string]any{"scales": []float32{1, 1, 1, 1.5}}, []*graph.Tensor{x}, "[1 1 2 3 3 4]"},
		{"Upsample", 9, map[string]any{"mode": "linear"}, []*graph.Tensor{x, f32s(1, 1, 1, 2)}, "[1 1.5 2 2.5 3 3.5 4 4]"},
		{"Resize", 10, nil, []*graph.Tensor{x, f32s(1, 1, 1, 0.5)}, "[1 3]"},
		{"Resize", 10, map[string]any{"mode": "linear"}, []*graph.Tensor{x, f32s(1, 1, 1, 0.75)}, "[1 2.3333335 3.6666667]"},
	}
	for _, c := range cases {
		y := runOp(t, c.op, c.opset, c.attrs, 1, c.in)[0]
		if fmt.Sprint(y.Data) != c.want {
			t.Errorf("%s-%d %v: %v, want %s", c.op, c.opset, c.attrs, y.Data, c.want)
		}
	}
	checkGrad(t, gradCase{op: "Upsample", opset: 9, attrs: map[string]any{"mode": "linear"}, inputs: []*graph.Tensor{x, f32s(1, 1, 2, 2.5)}, wrt: []int{0}, eps: 0.5})
}

// TestResizeRefusals: cubic antialiasing and unknown modes fail at
// Compile (Check) with a message.
func TestResizeRefusals(t *testing.T) {
	for _, attrs := range []map[string]any{{"mode": "cubic", "antialias": 1}, {"mode": "area"}, {"coordinate_transformation_mode": "magic"}} {
		if err := Lookup("", "Resize", 18).Check(newTestNode("Resize", attrs, 1)); err == nil {
			t.Errorf("%v was accepted", attrs)
		}
	}
}
