package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "MatMulInteger", MinOpset: 10, Forward: matmulIntegerForward})
}

// intOperand returns an int8 or uint8 tensor's elements as int32.
func intOperand(t *graph.Tensor, what string) ([]int32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	out := make([]int32, t.Len())
	switch d := t.Data.(type) {
	case []int8:
		for i, v := range d {
			out[i] = int32(v)
		}
	case []uint8:
		if t.DType != graph.Uint8 {
			return nil, fmt.Errorf("%s is %s, want int8 or uint8", what, t.DType)
		}
		for i, v := range d {
			out[i] = int32(v)
		}
	default:
		return nil, fmt.Errorf("%s is %s, want int8 or uint8", what, t.DType)
	}
	return out, nil
}

// zeroPoints returns an optional zero-point input as int32 values: one
// value (per tensor) or n values (per row or column); nil when omitted.
func zeroPoints(in []*graph.Tensor, i int, n int, what string) ([]int32, error) {
	if i >= len(in) || in[i] == nil {
		return nil, nil
	}
	z, err := intOperand(in[i], what)
	if err != nil {
		return nil, err
	}
	if len(z) != 1 && len(z) != n {
		return nil, fmt.Errorf("%s has %d elements, want 1 or %d", what, len(z), n)
	}
	return z, nil
}

// subZero subtracts zero points from an operand laid out as rows×cols
// matrices: z per tensor, per row (perRow) or per column.
func subZero(x []int32, z []int32, rows, cols int, perRow bool) {
	if z == nil {
		return
	}
	for i := range x {
		switch {
		case len(z) == 1:
			x[i] -= z[0]
		case perRow:
			x[i] -= z[(i/cols)%rows]
		default:
			x[i] -= z[i%cols]
		}
	}
}

// gemmInt32 adds a[m×k]·b[k×n] to c, exactly in int32.
func gemmInt32(m, n, k int, a, b, c []int32) {
	for i := 0; i < m; i++ {
		crow := c[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := a[i*k+p]
			if av == 0 {
				continue
			}
			for j, bv := range b[p*n : (p+1)*n] {
				crow[j] += av * bv
			}
		}
	}
}

// matmulIntegerForward computes MatMulInteger: (A - a_zero_point) ·
// (B - b_zero_point) in int32, with MatMul's batch broadcasting. a's zero
// point is per tensor or per row of A, b's per tensor or per column of B.
func matmulIntegerForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMulInteger needs inputs A and B")
	}
	p, err := newMatmulPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	a, err := intOperand(in[0], "input A")
	if err != nil {
		return nil, err
	}
	b, err := intOperand(in[1], "input B")
	if err != nil {
		return nil, err
	}
	za, err := zeroPoints(in, 2, p.m, "a_zero_point")
	if err != nil {
		return nil, err
	}
	zb, err := zeroPoints(in, 3, p.n, "b_zero_point")
	if err != nil {
		return nil, err
	}
	subZero(a, za, p.m, p.k, true)
	subZero(b, zb, p.k, p.n, false)
	y := make([]int32, p.batch*p.m*p.n)
	mk, kn, mn := p.m*p.k, p.k*p.n, p.m*p.n
	p.run(true, func(i int) {
		gemmInt32(p.m, p.n, p.k, a[p.offA[i]*mk:], b[p.offB[i]*kn:], y[i*mn:])
	})
	return []*graph.Tensor{graph.MustTensor(graph.Int32, p.outShape, y)}, nil
}
