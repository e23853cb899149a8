package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

var matmulShapes = [][2][]int64{
	{{3, 4}, {4, 5}},
	{{4}, {4, 3}},
	{{3, 4}, {4}},
	{{5}, {5}},
	{{2, 3, 4}, {4, 5}},          // folded into one product
	{{3, 4}, {2, 4, 5}},          // A broadcast over B's batch
	{{2, 1, 3, 4}, {1, 3, 4, 2}}, // both broadcast
	{{2, 3, 4}, {2, 4, 3}},
	{{2, 2, 3}, {3}},
	{{3}, {2, 3, 2}},
}

// directMatmul computes numpy matmul in float64 from the plan's offsets
// (the offsets are checked by the shapes above through the gradient test
// and by the node tests).
func directMatmul(a, b []float32, p *matmulPlan) []float32 {
	y := make([]float32, p.batch*p.m*p.n)
	for t := 0; t < p.batch; t++ {
		for i := 0; i < p.m; i++ {
			for j := 0; j < p.n; j++ {
				var s float64
				for k := 0; k < p.k; k++ {
					s += float64(a[p.offA[t]*p.m*p.k+i*p.k+k]) * float64(b[p.offB[t]*p.k*p.n+k*p.n+j])
				}
				y[(t*p.m+i)*p.n+j] = float32(s)
			}
		}
	}
	return y
}

// TestMatMul compares MatMul with a direct product. Tolerance: K <= 5
// products of values in [-1, 1): float32 rounding is below 1e-6.
func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range matmulShapes {
		in := []*graph.Tensor{randTensor(rng, s[0]...), randTensor(rng, s[1]...)}
		got := runOp(t, "MatMul", 13, nil, 1, in)[0]
		p, err := newMatmulPlan(s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		want := graph.MustTensor(graph.Float, p.outShape, directMatmul(in[0].Data.([]float32), in[1].Data.([]float32), p))
		if err := allClose(got, want, 1e-5, 1e-6); err != nil {
			t.Errorf("%v x %v: %v", s[0], s[1], err)
		}
	}
	want := map[string]string{"[4]x[4 3]": "[3]", "[3 4]x[4]": "[3]", "[5]x[5]": "[]", "[3 4]x[2 4 5]": "[2 3 5]", "[2 1 3 4]x[1 3 4 2]": "[2 3 3 2]", "[3]x[2 3 2]": "[2 2]"}
	for k, v := range want {
		var a, b []int64
		for i, s := range matmulShapes {
			if fmt.Sprintf("%vx%v", s[0], s[1]) == k {
				a, b = matmulShapes[i][0], matmulShapes[i][1]
			}
		}
		p, _ := newMatmulPlan(a, b)
		if fmt.Sprint(p.outShape) != v {
			t.Errorf("%s: output shape %v, want %s", k, p.outShape, v)
		}
	}
	if _, err := newMatmulPlan([]int64{2, 3, 4}, []int64{3, 4, 5}); err == nil {
		t.Error("batch dims 2 and 3 were broadcast")
	}
}

func TestMatMulGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, s := range matmulShapes {
		t.Run(fmt.Sprintf("%vx%v", s[0], s[1]), func(t *testing.T) {
			checkGrad(t, gradCase{op: "MatMul", opset: 13, inputs: []*graph.Tensor{randTensor(rng, s[0]...), randTensor(rng, s[1]...)}, eps: 0.5})
		})
	}
}

type gemmCase struct {
	a, b, c     []int64 // c nil: no C
	tA, tB      int
	alpha, beta float32
}

var gemmCases = []gemmCase{
	{[]int64{3, 4}, []int64{4, 5}, []int64{3, 5}, 0, 0, 1, 1},
	{[]int64{4, 3}, []int64{4, 5}, []int64{5}, 1, 0, 0.5, 2},
	{[]int64{3, 4}, []int64{5, 4}, []int64{3, 1}, 0, 1, 1.5, 0.25},
	{[]int64{4, 3}, []int64{5, 4}, []int64{}, 1, 1, -1, 1},
	{[]int64{3, 4}, []int64{4, 5}, []int64{1, 5}, 0, 0, 1, 0},
	{[]int64{2, 6}, []int64{6, 3}, nil, 0, 0, 1, 1},
}

func (c gemmCase) attrs() map[string]any {
	return map[string]any{"transA": c.tA, "transB": c.tB, "alpha": c.alpha, "beta": c.beta}
}

func (c gemmCase) inputs(rng *rand.Rand) []*graph.Tensor {
	in := []*graph.Tensor{randTensor(rng, c.a...), randTensor(rng, c.b...)}
	if c.c != nil {
		in = append(in, randTensor(rng, c.c...))
	}
	return in
}

// TestGemm compares Gemm with MatMul of explicitly transposed operands
// plus the broadcast C (tolerance as TestMatMul).
func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, c := range gemmCases {
		in := c.inputs(rng)
		got := runOp(t, "Gemm", 13, c.attrs(), 1, in)[0]
		a, b := in[0].Data.([]float32), in[1].Data.([]float32)
		if c.tA == 1 {
			a = transpose2(a, int(c.a[0]), int(c.a[1]))
		}
		if c.tB == 1 {
			b = transpose2(b, int(c.b[0]), int(c.b[1]))
		}
		m, k, n := int(got.Shape[0]), 0, int(got.Shape[1])
		k = len(a) / m
		p := &matmulPlan{m: m, k: k, n: n, batch: 1, offA: []int{0}, offB: []int{0}}
		y := directMatmul(a, b, p)
		for i := range y {
			y[i] *= c.alpha
			if c.c != nil {
				cd := in[2].Data.([]float32)
				cm, cn := 1, 1
				if len(c.c) == 2 {
					cm, cn = int(c.c[0]), int(c.c[1])
				} else if len(c.c) == 1 {
					cn = int(c.c[0])
				}
				y[i] += c.beta * cd[(i/n%cm)*cn+(i%n)%cn]
			}
		}
		if err := allClose(got, graph.MustTensor(graph.Float, got.Shape, y), 1e-5, 1e-6); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestGemmGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for i, c := range gemmCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkGrad(t, gradCase{op: "Gemm", opset: 13, attrs: c.attrs(), inputs: c.inputs(rng), eps: 0.5})
		})
	}
}

func transpose2(a []float32, r, c int) []float32 {
	out := make([]float32, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = a[i*c+j]
		}
	}
	return out
}
