// Package qat is quantization-aware training: it turns a QDQ model into a
// training graph in which every QuantizeLinear -> DequantizeLinear pair is
// one FakeQuant op (exactly ONNX's Q -> DQ in the forward pass, the
// straight-through estimator with a clipping mask in the backward pass,
// optionally LSQ-style learnable scales), trains weights (and scales) with
// SGD or Adam on the engine's Gorgonia lowering, and writes the result
// back into a QDQ model.
package qat

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// Domain is the operator domain of onnxq's training-only operators. They
// never appear in a model onnxq writes for deployment.
const Domain = "ai.onnxq.training"

// FakeQuant attributes:
//
//	axis       per-axis params axis (default 1, as QuantizeLinear)
//	block_size blocked params along axis (0: none)
//	bits       quantize to this many bits instead of the zero point
//	           type's full width (precision schedules; 0: the type's width)
//	lsq        1: the scale input receives an LSQ gradient
//
// Inputs: x (float), scale (float, scalar / [C] / blocked), zero_point
// (the quantized type: int8, uint8, int4, uint4, int16, uint16).
const FakeQuantOp = "FakeQuant"

func init() {
	engine.Register(&engine.Op{Domain: Domain, Type: FakeQuantOp, MinOpset: 1, Forward: fakeQuantForward, Backward: fakeQuantBackward, Check: checkFakeQuant})
}

func checkFakeQuant(n *graph.Node) error {
	if len(n.Inputs) != 3 || n.Inputs[2] == nil {
		return fmt.Errorf("FakeQuant needs x, scale and zero_point")
	}
	if b := n.AttrInt("bits", 0); b < 0 || b > 16 || b == 1 {
		return fmt.Errorf("bits %d out of range", b)
	}
	return nil
}

// fqLayout maps each element of x to its params index.
type fqLayout struct {
	outer, ch, inner int
	block            int // 0: per channel (or per tensor when ch params = 1)
	nparams          int
}

func (l fqLayout) index(i int) int {
	if l.nparams == 1 {
		return 0
	}
	c := (i / l.inner) % l.ch
	if l.block > 0 {
		nb := (l.ch + l.block - 1) / l.block
		o := i / (l.inner * l.ch)
		return (o*nb+c/l.block)*l.inner + i%l.inner
	}
	return c
}

// countPer returns how many elements of x share each params entry.
func (l fqLayout) countPer(n int) int {
	return max(1, n/l.nparams)
}

func layoutOf(n *graph.Node, x, scale *graph.Tensor) (fqLayout, error) {
	np := scale.Len()
	if np == 1 && n.AttrInt("block_size", 0) == 0 {
		return fqLayout{nparams: 1, outer: 1, ch: 1, inner: x.Len()}, nil
	}
	axis := int(n.AttrInt("axis", 1))
	if axis < 0 {
		axis += x.Rank()
	}
	if axis < 0 || axis >= x.Rank() {
		return fqLayout{}, fmt.Errorf("axis %d out of range for rank %d", axis, x.Rank())
	}
	l := fqLayout{outer: 1, inner: 1, nparams: np, block: int(n.AttrInt("block_size", 0))}
	for i, d := range x.Shape {
		switch {
		case i < axis:
			l.outer *= int(d)
		case i == axis:
			l.ch = int(d)
		default:
			l.inner *= int(d)
		}
	}
	if l.block == 0 && np != l.ch {
		return l, fmt.Errorf("%d scales for %d channels on axis %d", np, l.ch, axis)
	}
	return l, nil
}

// fqParams returns the scales, zero points and integer range of a node.
func fqParams(n *graph.Node, scale, zp *graph.Tensor) ([]float32, []int64, int64, int64, error) {
	s, err := scale.Float32s()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	z, err := zp.Int64s()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if len(z) != len(s) {
		return nil, nil, 0, 0, fmt.Errorf("%d scales but %d zero points", len(s), len(z))
	}
	qmin, qmax := zp.DType.IntRange()
	if b := n.AttrInt("bits", 0); b > 0 && int(b) < zp.DType.Bits() {
		if qmin < 0 {
			qmin, qmax = -(1 << (b - 1)), 1<<(b-1)-1
		} else {
			qmin, qmax = 0, 1<<b-1
		}
	}
	return s, z, qmin, qmax, nil
}

// quantizeRange is quant.Quantize with an explicit integer range.
func quantizeRange(x, scale float32, zp, qmin, qmax int64) (q int64, clipped int) {
	r := math.RoundToEven(float64(x / scale))
	if math.IsNaN(r) {
		return zp, 0
	}
	v := r + float64(zp)
	switch {
	case v < float64(qmin):
		return qmin, -1
	case v > float64(qmax):
		return qmax, 1
	}
	return int64(v), 0
}

// fqGrain is the number of elements worth a goroutine of its own.
const fqGrain = 1 << 14

func fakeQuantForward(ctx *engine.Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	x, scale, zp := in[0], in[1], in[2]
	xs, err := x.Float32s()
	if err != nil {
		return nil, err
	}
	l, err := layoutOf(ctx.Node, x, scale)
	if err != nil {
		return nil, err
	}
	s, z, qmin, qmax, err := fqParams(ctx.Node, scale, zp)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(xs))
	engine.ParallelFor(len(xs), fqGrain, func(lo, hi int) {
		if l.nparams == 1 {
			s0, z0 := s[0], z[0]
			for i, v := range xs[lo:hi] {
				q, _ := quantizeRange(v, s0, z0, qmin, qmax)
				out[lo+i] = quant.Dequantize(q, s0, z0)
			}
			return
		}
		for i := lo; i < hi; i++ {
			k := l.index(i)
			q, _ := quantizeRange(xs[i], s[k], z[k], qmin, qmax)
			out[i] = quant.Dequantize(q, s[k], z[k])
		}
	})
	return []*graph.Tensor{graph.MustTensor(graph.Float, x.Shape, out)}, nil
}

// fakeQuantBackward is the straight-through estimator: the gradient passes
// to x where x was not clipped. With lsq=1 the scale gets the LSQ gradient
// d x_hat / d s = round(x/s) - x/s inside the range and qmin - z or
// qmax - z where clipped, scaled by 1 / sqrt(N * qmax) (N: elements per
// scale) as Esser et al. propose to balance it against weight gradients.
func fakeQuantBackward(ctx *engine.Context, in, _, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	x, scale, zp := in[0], in[1], in[2]
	if dout[0] == nil {
		return []*graph.Tensor{nil, nil, nil}, nil
	}
	xs, _ := x.Float32s()
	d, _ := dout[0].Float32s()
	l, err := layoutOf(ctx.Node, x, scale)
	if err != nil {
		return nil, err
	}
	s, z, qmin, qmax, err := fqParams(ctx.Node, scale, zp)
	if err != nil {
		return nil, err
	}
	lsq := ctx.Node.AttrInt("lsq", 0) == 1
	dx := make([]float32, len(xs))
	if !lsq {
		engine.ParallelFor(len(xs), fqGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				k := 0
				if l.nparams > 1 {
					k = l.index(i)
				}
				if _, clip := quantizeRange(xs[i], s[k], z[k], qmin, qmax); clip == 0 {
					dx[i] = d[i]
				}
			}
		})
		return []*graph.Tensor{graph.MustTensor(graph.Float, x.Shape, dx), nil, nil}, nil
	}
	// With LSQ, the sums per scale run in one goroutine, in element order,
	// so they do not depend on the number of threads.
	ds := make([]float64, len(s))
	for i, v := range xs {
		k := l.index(i)
		_, clip := quantizeRange(v, s[k], z[k], qmin, qmax)
		var g float64
		switch clip {
		case 0:
			dx[i] = d[i]
			r := float64(v / s[k])
			g = math.RoundToEven(r) - r
		case -1:
			g = float64(qmin - z[k])
		case 1:
			g = float64(qmax - z[k])
		}
		ds[k] += g * float64(d[i])
	}
	gscale := 1 / math.Sqrt(float64(l.countPer(len(xs)))*float64(max(qmax, 1)))
	g32 := make([]float32, len(ds))
	for k, v := range ds {
		g32[k] = float32(v * gscale)
	}
	return []*graph.Tensor{graph.MustTensor(graph.Float, x.Shape, dx), graph.MustTensor(graph.Float, scale.Shape, g32), nil}, nil
}
