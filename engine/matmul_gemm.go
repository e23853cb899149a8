package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/graph"
)

func init() {
	// One entry covers every opset: the broadcast attribute of opsets 1-6
	// only restricted C's shape, and C became optional in opset 11; this
	// kernel accepts the union (a broadcastable, optional C).
	Register(&Op{Type: "Gemm", MinOpset: 1, Forward: gemmForward, Backward: gemmBackward})
}

// gemmPlan holds the shapes of Y = alpha·op(A)·op(B) + beta·C.
type gemmPlan struct {
	transA, transB bool
	alpha, beta    float32
	m, k, n        int
	cm, cn         int // C's extent along M and N (1 when broadcast); 0 without C
}

func newGemmPlan(node *graph.Node, in []*graph.Tensor) (*gemmPlan, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Gemm needs inputs A and B")
	}
	p := &gemmPlan{
		transA: node.AttrInt("transA", 0) != 0, transB: node.AttrInt("transB", 0) != 0,
		alpha: node.AttrFloat("alpha", 1), beta: node.AttrFloat("beta", 1),
	}
	sa, sb := in[0].Shape, in[1].Shape
	if len(sa) != 2 || len(sb) != 2 {
		return nil, fmt.Errorf("Gemm needs 2-D A and B, got shapes %v and %v", sa, sb)
	}
	p.m, p.k = int(sa[0]), int(sa[1])
	if p.transA {
		p.m, p.k = p.k, p.m
	}
	kb, n := int(sb[0]), int(sb[1])
	if p.transB {
		kb, n = n, kb
	}
	if kb != p.k {
		return nil, fmt.Errorf("Gemm: A %v (transA %v) and B %v (transB %v) have inner dims %d and %d", sa, p.transA, sb, p.transB, p.k, kb)
	}
	p.n = n
	if len(in) > 2 && in[2] != nil {
		sc := in[2].Shape
		p.cm, p.cn = 1, 1
		switch len(sc) {
		case 0:
		case 1:
			p.cn = int(sc[0])
		case 2:
			p.cm, p.cn = int(sc[0]), int(sc[1])
		default:
			return nil, fmt.Errorf("Gemm: C has shape %v, want rank <= 2", sc)
		}
		if (p.cm != 1 && p.cm != p.m) || (p.cn != 1 && p.cn != p.n) {
			return nil, fmt.Errorf("Gemm: C of shape %v does not broadcast to [%d %d]", sc, p.m, p.n)
		}
	}
	return p, nil
}

// lda and ldb are the row strides of A and B as stored.
func (p *gemmPlan) lda() int {
	if p.transA {
		return p.m
	}
	return p.k
}

func (p *gemmPlan) ldb() int {
	if p.transB {
		return p.k
	}
	return p.n
}

// gemmForward computes Gemm.
func gemmForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, err := newGemmPlan(ctx.Node, in)
	if err != nil {
		return nil, err
	}
	a, err := floatIn(in[0], "input A")
	if err != nil {
		return nil, err
	}
	b, err := floatIn(in[1], "input B")
	if err != nil {
		return nil, err
	}
	y := make([]float32, p.m*p.n)
	beta := float32(0)
	if p.cm > 0 && p.beta != 0 {
		c, err := floatIn(in[2], "input C")
		if err != nil {
			return nil, err
		}
		for i := 0; i < p.m; i++ {
			row := y[i*p.n : (i+1)*p.n]
			crow := c[(i%p.cm)*p.cn:][:p.cn]
			for j := range row {
				row[j] = p.beta * crow[j%p.cn]
			}
		}
		beta = 1
	}
	gemm.Sgemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, a, p.lda(), b, p.ldb(), beta, y, p.n)
	return []*graph.Tensor{floatOut(in[0].DType, int64Dims(p.m, p.n), y)}, nil
}

// gemmBackward is the Gradient of Gemm. With A' = op(A), B' = op(B):
// dA' = alpha·dY·B'^T, dB' = alpha·A'^T·dY (each written transposed when
// the operand is stored transposed) and dC = beta·dY summed over the dims
// C was broadcast along.
func gemmBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	p, err := newGemmPlan(ctx.Node, in)
	if err != nil {
		return nil, err
	}
	a, err := floatIn(in[0], "input A")
	if err != nil {
		return nil, err
	}
	b, err := floatIn(in[1], "input B")
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != p.m*p.n {
		return nil, fmt.Errorf("gradient of Y has shape %v, want [%d %d]", dout[0].Shape, p.m, p.n)
	}
	da, db := make([]float32, len(a)), make([]float32, len(b))
	if p.transA { // dA = B'·dY^T  (K×M)
		gemm.Sgemm(p.transB, true, p.k, p.m, p.n, p.alpha, b, p.ldb(), dy, p.n, 0, da, p.m)
	} else { // dA = dY·B'^T  (M×K)
		gemm.Sgemm(false, !p.transB, p.m, p.k, p.n, p.alpha, dy, p.n, b, p.ldb(), 0, da, p.k)
	}
	if p.transB { // dB = dY^T·A'  (N×K)
		gemm.Sgemm(true, p.transA, p.n, p.k, p.m, p.alpha, dy, p.n, a, p.lda(), 0, db, p.k)
	} else { // dB = A'^T·dY  (K×N)
		gemm.Sgemm(!p.transA, false, p.k, p.n, p.m, p.alpha, a, p.lda(), dy, p.n, 0, db, p.n)
	}
	grads[0] = floatOut(in[0].DType, in[0].Shape, da)
	grads[1] = floatOut(in[1].DType, in[1].Shape, db)
	if p.cm > 0 {
		dc := make([]float32, p.cm*p.cn)
		for i := 0; i < p.m; i++ {
			crow := dc[(i%p.cm)*p.cn:][:p.cn]
			for j, v := range dy[i*p.n : (i+1)*p.n] {
				crow[j%p.cn] += p.beta * v
			}
		}
		grads[2] = floatOut(in[2].DType, in[2].Shape, dc)
	}
	return grads, nil
}
