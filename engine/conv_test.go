package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// convCase is a Conv configuration for the forward and gradient tests.
type convCase struct {
	name  string
	x, w  []int64
	bias  bool
	attrs map[string]any
}

var convCases = []convCase{
	{"basic", []int64{2, 3, 7, 6}, []int64{4, 3, 3, 3}, true, map[string]any{"pads": []int64{1, 1, 1, 1}}},
	{"strided_asym_pads_dil", []int64{1, 2, 9, 8}, []int64{3, 2, 3, 2}, true, map[string]any{"strides": []int64{2, 3}, "pads": []int64{1, 0, 2, 1}, "dilations": []int64{2, 1}}},
	{"dilated_stride1", []int64{1, 2, 8, 9}, []int64{3, 2, 3, 2}, true, map[string]any{"dilations": []int64{2, 3}, "pads": []int64{2, 1, 1, 3}}},
	{"groups", []int64{2, 4, 6, 6}, []int64{6, 2, 3, 3}, true, map[string]any{"group": 2, "pads": []int64{1, 1, 1, 1}}},
	{"depthwise", []int64{2, 3, 7, 7}, []int64{3, 1, 3, 3}, true, map[string]any{"group": 3, "pads": []int64{1, 1, 1, 1}}},
	{"depthwise_mult_stride_dil", []int64{1, 2, 9, 9}, []int64{4, 1, 3, 3}, false, map[string]any{"group": 2, "strides": []int64{2, 2}, "dilations": []int64{2, 1}, "pads": []int64{2, 1, 0, 1}}},
	{"depthwise_wide", []int64{1, 2, 5, 45}, []int64{2, 1, 3, 3}, true, map[string]any{"group": 2, "pads": []int64{1, 1, 1, 1}}},
	{"depthwise_wide_dil", []int64{1, 2, 6, 50}, []int64{2, 1, 2, 5}, false, map[string]any{"group": 2, "pads": []int64{1, 3, 0, 2}, "dilations": []int64{2, 2}}},
	{"depthwise_s2_wide", []int64{1, 3, 9, 70}, []int64{3, 1, 3, 3}, true, map[string]any{"group": 3, "pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 2}}},
	{"depthwise_s2_pad2_odd", []int64{1, 2, 6, 41}, []int64{2, 1, 3, 5}, true, map[string]any{"group": 2, "pads": []int64{1, 2, 1, 2}, "strides": []int64{2, 2}}},
	{"depthwise_s2_pad0_odd", []int64{1, 2, 5, 43}, []int64{2, 1, 3, 3}, false, map[string]any{"group": 2, "strides": []int64{2, 2}}},
	{"conv_s2_odd", []int64{1, 3, 7, 45}, []int64{4, 3, 3, 3}, true, map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 0, 1, 1}}},
	{"depthwise_s3_dil2_wide", []int64{1, 2, 8, 77}, []int64{4, 1, 2, 5}, false, map[string]any{"group": 2, "pads": []int64{0, 4, 1, 2}, "strides": []int64{1, 3}, "dilations": []int64{1, 2}}},
	{"pointwise", []int64{2, 5, 4, 3}, []int64{3, 5, 1, 1}, true, nil},
	{"pointwise_strided", []int64{1, 3, 5, 5}, []int64{2, 3, 1, 1}, false, map[string]any{"strides": []int64{2, 2}}},
	{"same_lower", []int64{1, 2, 5, 6}, []int64{2, 2, 3, 2}, false, map[string]any{"auto_pad": "SAME_LOWER", "strides": []int64{2, 2}}},
	{"same_upper", []int64{1, 2, 5, 6}, []int64{2, 2, 2, 3}, true, map[string]any{"auto_pad": "SAME_UPPER"}},
	{"valid", []int64{1, 2, 6, 5}, []int64{2, 2, 3, 3}, false, map[string]any{"auto_pad": "VALID", "strides": []int64{2, 1}}},
	{"1d", []int64{2, 3, 11}, []int64{4, 3, 3}, true, map[string]any{"pads": []int64{1, 2}, "strides": []int64{2}}},
	{"3d", []int64{1, 2, 4, 5, 3}, []int64{3, 2, 2, 3, 2}, true, map[string]any{"pads": []int64{1, 0, 1, 0, 1, 0}, "strides": []int64{1, 2, 1}}},
	{"3d_depthwise", []int64{1, 2, 3, 4, 4}, []int64{2, 1, 2, 2, 2}, false, map[string]any{"group": 2}},
	// Several row bands: kdim 16*9 = 144, 40 output columns: 22 rows per
	// band, so 50 rows make 3 bands.
	{"bands", []int64{1, 16, 50, 40}, []int64{5, 16, 3, 3}, true, map[string]any{"pads": []int64{1, 1, 1, 1}}},
}

func (c convCase) inputs(rng *rand.Rand) []*graph.Tensor {
	in := []*graph.Tensor{randTensor(rng, c.x...), randTensor(rng, c.w...)}
	if c.bias {
		in = append(in, randTensor(rng, c.w[0]))
	}
	return in
}

// TestConvMatchesDirect compares Conv with a direct float64 convolution.
// Tolerance: the kernel sums kdim ≤ 144 float32 products of values in
// [-1, 1); its rounding error is below kdim·2^-24·Σ|terms| ≈ 1e-4 absolute.
func TestConvMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		in := c.inputs(rng)
		got := runOp(t, "Conv", 13, c.attrs, 1, in)[0]
		want := directConv(t, c, in)
		if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
			t.Errorf("%s: shape %v, want %v", c.name, got.Shape, want.Shape)
			continue
		}
		if err := allClose(got, want, 1e-4, 1e-4); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestConvGradient checks dX, dW and dB of Conv by finite differences.
func TestConvGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			checkGrad(t, gradCase{op: "Conv", opset: 13, attrs: c.attrs, inputs: c.inputs(rng), eps: 0.5, maxElems: 150})
		})
	}
}

// directConv is the textbook definition of Conv, in float64.
func directConv(t *testing.T, c convCase, in []*graph.Tensor) *graph.Tensor {
	n := newTestNode("Conv", c.attrs, 1)
	p, err := newConvPlan(n, c.x, c.w)
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := readWindowAttrs(n)
	spatial := make([]int, len(c.x)-2)
	kernel := make([]int, len(c.x)-2)
	for i := range spatial {
		spatial[i], kernel[i] = int(c.x[i+2]), int(c.w[i+2])
	}
	win, err := attrs.forwardWindow(spatial, kernel)
	if err != nil {
		t.Fatal(err)
	}
	x := in[0].Data.([]float32)
	w := in[1].Data.([]float32)
	r := len(spatial)
	y := make([]float32, p.n*p.m*p.outP)
	oIdx := make([]int, r)
	kIdx := make([]int, r)
	for n := 0; n < p.n; n++ {
		for m := 0; m < p.m; m++ {
			g := m / p.mg
			for o := 0; o < p.outP; o++ {
				var s float64
				if len(in) > 2 {
					s = float64(in[2].Data.([]float32)[m])
				}
				for ci := 0; ci < p.cg; ci++ {
					c := g*p.cg + ci
					for k := 0; k < p.k; k++ {
						idx, inside := 0, true
						for d := 0; d < r; d++ {
							v := oIdx[d]*win.stride[d] - win.padB[d] + kIdx[d]*win.dil[d]
							if v < 0 || v >= win.in[d] {
								inside = false
							}
							idx = idx*win.in[d] + v
						}
						if inside {
							s += float64(x[(n*p.c+c)*p.inP+idx]) * float64(w[(m*p.cg+ci)*p.k+k])
						}
						odometer(kIdx, win.kernel)
					}
				}
				y[(n*p.m+m)*p.outP+o] = float32(s)
				odometer(oIdx, win.out)
			}
		}
	}
	if math.IsNaN(float64(y[0])) {
		t.Fatal("NaN")
	}
	return graph.MustTensor(graph.Float, nchwShape(p.n, p.m, win.out), y)
}
