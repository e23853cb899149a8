package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "MatMul", MinOpset: 1, Forward: matmulForward, Backward: matmulBackward})
}

// matmulPlan is the shape of a numpy-style matmul: a batch of M×K by K×N
// products, the batch dims broadcast. 1-D operands are promoted (A to
// 1×K, B to K×1) and the promoted dim is dropped from the output.
type matmulPlan struct {
	m, k, n    int
	batch      int     // number of products
	offA, offB []int   // per product: the operand's matrix index
	outShape   []int64 // the output shape
	fold       bool    // B is one matrix and A's batch is the output's: one (batch·M)×K×N product
	uniqueA    bool    // every product reads its own A matrix (none is broadcast)
	uniqueB    bool
}

// newMatmulPlan checks the shapes of A and B.
func newMatmulPlan(sa, sb []int64) (*matmulPlan, error) {
	if len(sa) == 0 || len(sb) == 0 {
		return nil, fmt.Errorf("MatMul operands must have rank >= 1, got shapes %v and %v", sa, sb)
	}
	aVec, bVec := len(sa) == 1, len(sb) == 1
	if aVec {
		sa = []int64{1, sa[0]}
	}
	if bVec {
		sb = []int64{sb[0], 1}
	}
	p := &matmulPlan{m: int(sa[len(sa)-2]), k: int(sa[len(sa)-1]), n: int(sb[len(sb)-1])}
	if int(sb[len(sb)-2]) != p.k {
		return nil, fmt.Errorf("MatMul shapes %v and %v: inner dims %d and %d differ", sa, sb, p.k, sb[len(sb)-2])
	}
	ba, bb := sa[:len(sa)-2], sb[:len(sb)-2]
	bo, err := broadcastBatch(ba, bb)
	if err != nil {
		return nil, fmt.Errorf("MatMul shapes %v and %v: %w", sa, sb, err)
	}
	p.offA, p.offB = batchOffsets(ba, bo), batchOffsets(bb, bo)
	p.batch = len(p.offA)
	p.uniqueA = volume64(ba) == p.batch
	p.uniqueB = volume64(bb) == p.batch
	p.fold = volume64(bb) == 1 && p.uniqueA
	p.outShape = append(append([]int64{}, bo...), int64(p.m), int64(p.n))
	switch {
	case aVec && bVec:
		p.outShape = p.outShape[:len(p.outShape)-2]
	case aVec:
		p.outShape = append(p.outShape[:len(p.outShape)-2], int64(p.n))
	case bVec:
		p.outShape = p.outShape[:len(p.outShape)-1]
	}
	return p, nil
}

// broadcastBatch broadcasts two batch shapes numpy-style.
func broadcastBatch(a, b []int64) ([]int64, error) {
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := range out {
		da, db := int64(1), int64(1)
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("batch dims %v and %v cannot be broadcast", a, b)
		}
	}
	return out, nil
}

// batchOffsets returns, for every index of the broadcast batch shape out,
// the index of the matrix of an operand with batch shape in.
func batchOffsets(in, out []int64) []int {
	n := volume64(out)
	offs := make([]int, n)
	strides := make([]int, len(out)) // the operand's stride per out dim, 0 where broadcast
	acc := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			strides[len(out)-len(in)+i] = acc
		}
		acc *= int(in[i])
	}
	idx := make([]int, len(out))
	dims := make([]int, len(out))
	for i, d := range out {
		dims[i] = int(d)
	}
	for o := 0; o < n; o++ {
		off := 0
		for d, v := range idx {
			off += v * strides[d]
		}
		offs[o] = off
		odometer(idx, dims)
	}
	return offs
}

func volume64(s []int64) int {
	n := 1
	for _, d := range s {
		n *= int(d)
	}
	return n
}

// smallGemm is the size (multiply-adds) below which one product is not
// worth splitting across threads; batches of such products are split by
// product instead.
const smallGemm = 1 << 19

// run calls fn for every product, in parallel when the products are small
// (large ones parallelize inside Sgemm) and parallel says it is safe.
func (p *matmulPlan) run(parallel bool, fn func(i int)) {
	if parallel && p.m*p.n*p.k < smallGemm && p.batch > 1 {
		ParallelFor(p.batch, max(1, smallGemm/max(1, p.m*p.n*p.k)), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
		return
	}
	for i := 0; i < p.batch; i++ {
		fn(i)
	}
}

// matmulForward computes MatMul with numpy semantics.
func matmulForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMul needs inputs A and B")
	}
	a, err := floatIn(in[0], "input A")
	if err != nil {
		return nil, err
	}
	b, err := floatIn(in[1], "input B")
	if err != nil {
		return nil, err
	}
	p, err := newMatmulPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	y := make([]float32, p.batch*p.m*p.n)
	mk, kn, mn := p.m*p.k, p.k*p.n, p.m*p.n
	if p.fold {
		gemm.Sgemm(false, false, p.batch*p.m, p.n, p.k, 1, a, p.k, b, p.n, 0, y, p.n)
	} else {
		p.run(true, func(i int) {
			gemm.Sgemm(false, false, p.m, p.n, p.k, 1, a[p.offA[i]*mk:], p.k, b[p.offB[i]*kn:], p.n, 0, y[i*mn:], p.n)
		})
	}
	return []*graph.Tensor{floatOut(in[0].DType, p.outShape, y)}, nil
}

// matmulBackward is the Gradient of MatMul: dA = dY·B^T and dB = A^T·dY,
// summed over the batch dims each operand was broadcast along.
func matmulBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, 2)
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	a, err := floatIn(in[0], "input A")
	if err != nil {
		return nil, err
	}
	b, err := floatIn(in[1], "input B")
	if err != nil {
		return nil, err
	}
	p, err := newMatmulPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != p.batch*p.m*p.n {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dout[0].Shape, p.outShape)
	}
	da, db := make([]float32, len(a)), make([]float32, len(b))
	mk, kn, mn := p.m*p.k, p.k*p.n, p.m*p.n
	if p.fold {
		gemm.Sgemm(false, true, p.batch*p.m, p.k, p.n, 1, dy, p.n, b, p.n, 0, da, p.k)
		gemm.Sgemm(true, false, p.k, p.n, p.batch*p.m, 1, a, p.k, dy, p.n, 0, db, p.n)
	} else {
		p.run(p.uniqueA, func(i int) {
			gemm.Sgemm(false, true, p.m, p.k, p.n, 1, dy[i*mn:], p.n, b[p.offB[i]*kn:], p.n, 1, da[p.offA[i]*mk:], p.k)
		})
		p.run(p.uniqueB, func(i int) {
			gemm.Sgemm(true, false, p.k, p.n, p.m, 1, a[p.offA[i]*mk:], p.k, dy[i*mn:], p.n, 1, db[p.offB[i]*kn:], p.n)
		})
	}
	grads[0] = floatOut(in[0].DType, in[0].Shape, da)
	grads[1] = floatOut(in[1].DType, in[1].Shape, db)
	return grads, nil
}
