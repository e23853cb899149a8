package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

var convTransposeCases = []convCase{
	{"basic", []int64{2, 3, 4, 5}, []int64{3, 2, 3, 3}, true, nil},
	{"strided_pads", []int64{1, 2, 3, 4}, []int64{2, 3, 3, 2}, true, map[string]any{"strides": []int64{2, 3}, "pads": []int64{1, 0, 0, 1}}},
	{"output_padding_dil", []int64{1, 2, 3, 3}, []int64{2, 2, 2, 3}, false, map[string]any{"strides": []int64{2, 2}, "output_padding": []int64{1, 0}, "dilations": []int64{1, 2}}},
	{"output_shape", []int64{1, 1, 3, 3}, []int64{1, 2, 3, 3}, true, map[string]any{"strides": []int64{3, 2}, "output_shape": []int64{10, 8}}},
	{"groups", []int64{1, 4, 3, 3}, []int64{4, 3, 3, 3}, true, map[string]any{"group": 2, "strides": []int64{2, 2}}},
	{"depthwise", []int64{2, 3, 4, 4}, []int64{3, 1, 3, 3}, true, map[string]any{"group": 3, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}},
	{"pointwise", []int64{1, 3, 3, 4}, []int64{3, 2, 1, 1}, true, nil},
	{"pointwise_output_padding", []int64{1, 3, 3, 4}, []int64{3, 2, 1, 1}, false, map[string]any{"output_padding": []int64{1, 1}, "strides": []int64{2, 2}}},
	{"same_upper", []int64{1, 2, 3, 3}, []int64{2, 2, 3, 3}, false, map[string]any{"auto_pad": "SAME_UPPER", "strides": []int64{2, 2}}},
	{"1d", []int64{1, 2, 5}, []int64{2, 3, 3}, true, map[string]any{"strides": []int64{2}}},
	{"3d", []int64{1, 2, 2, 3, 2}, []int64{2, 2, 2, 2, 3}, true, map[string]any{"strides": []int64{2, 1, 2}}},
}

// TestConvTransposeMatchesDirect compares ConvTranspose with a direct
// float64 scatter of every input element times the kernel (same tolerance
// argument as TestConvMatchesDirect).
func TestConvTransposeMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, c := range convTransposeCases {
		in := convTransposeInputs(rng, c)
		n := newTestNode("ConvTranspose", c.attrs, 1)
		p, err := newConvTransposePlan(n, c.x, c.w)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := runOp(t, "ConvTranspose", 13, c.attrs, 1, in)[0]
		if err := allClose(got, directConvTranspose(p, in), 1e-4, 1e-4); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestConvTransposeGradient checks dX, dW and dB by finite differences.
func TestConvTransposeGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for _, c := range convTransposeCases {
		t.Run(c.name, func(t *testing.T) {
			checkGrad(t, gradCase{op: "ConvTranspose", opset: 13, attrs: c.attrs, inputs: convTransposeInputs(rng, c), eps: 0.5, maxElems: 150})
		})
	}
}

// convTransposeInputs returns X, W and (if the case has one) a bias of
// W[1]*group elements.
func convTransposeInputs(rng *rand.Rand, c convCase) []*graph.Tensor {
	in := []*graph.Tensor{randTensor(rng, c.x...), randTensor(rng, c.w...)}
	if c.bias {
		g := int64(1)
		if v, ok := c.attrs["group"].(int); ok {
			g = int64(v)
		}
		in = append(in, randTensor(rng, c.w[1]*g))
	}
	return in
}

// directConvTranspose scatters x[n, c, i] * w[c, m, k] into
// y[n, g*M/group+m, i*stride - pad + k*dil] in float64, using the plan's
// geometry (the node tests check the geometry itself).
func directConvTranspose(p *convPlan, in []*graph.Tensor) *graph.Tensor {
	x, w := in[0].Data.([]float32), in[1].Data.([]float32)
	win := p.win
	r := win.rank()
	y := make([]float64, p.n*p.c*p.inP)
	xIdx, kIdx := make([]int, r), make([]int, r)
	for n := 0; n < p.n; n++ {
		for ci := 0; ci < p.m; ci++ { // X channels
			g := ci / p.mg
			for xi := 0; xi < p.outP; xi++ {
				xv := float64(x[(n*p.m+ci)*p.outP+xi])
				for mo := 0; mo < p.cg; mo++ {
					for k := 0; k < p.k; k++ {
						idx, inside := 0, true
						for d := 0; d < r; d++ {
							v := xIdx[d]*win.stride[d] - win.padB[d] + kIdx[d]*win.dil[d]
							if v < 0 || v >= win.in[d] {
								inside = false
							}
							idx = idx*win.in[d] + v
						}
						if inside {
							y[(n*p.c+g*p.cg+mo)*p.inP+idx] += xv * float64(w[(ci*p.cg+mo)*p.k+k])
						}
						odometer(kIdx, win.kernel)
					}
				}
				odometer(xIdx, win.out)
			}
		}
	}
	out := make([]float32, len(y))
	for i, v := range y {
		if len(in) > 2 {
			v += float64(in[2].Data.([]float32)[(i/p.inP)%p.c])
		}
		out[i] = float32(v)
	}
	return graph.MustTensor(graph.Float, nchwShape(p.n, p.c, p.outSpatial), out)
}
