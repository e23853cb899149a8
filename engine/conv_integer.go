package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "ConvInteger", MinOpset: 10, Forward: convIntegerForward, Check: checkConv})
}

// convIntegerForward computes ConvInteger: the convolution of
// (X - x_zero_point) with (W - w_zero_point) in exact int32 arithmetic.
// x_zero_point is per tensor; w_zero_point per tensor or per output
// channel. The im2col columns are built in float32, which holds the
// shifted 8-bit values exactly, and multiplied in int32.
func convIntegerForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("ConvInteger needs inputs X and W")
	}
	p, err := newConvPlan(ctx.Node, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	xi, err := intOperand(in[0], "input X")
	if err != nil {
		return nil, err
	}
	w, err := intOperand(in[1], "weight W")
	if err != nil {
		return nil, err
	}
	zx, err := zeroPoints(in, 2, 1, "x_zero_point")
	if err != nil {
		return nil, err
	}
	zw, err := zeroPoints(in, 3, p.m, "w_zero_point")
	if err != nil {
		return nil, err
	}
	subZero(w, zw, p.m, p.kdim, true)
	x := make([]float32, len(xi))
	for i, v := range xi {
		if zx != nil {
			v -= zx[0]
		}
		x[i] = float32(v)
	}
	y := make([]int32, p.n*p.m*p.outP)
	cols := make([]float32, p.kdim*p.maxBandCols())
	icols := make([]int32, len(cols))
	tmp := make([]int32, p.mg*p.maxBandCols())
	for n := 0; n < p.n; n++ {
		for g := 0; g < p.group; g++ {
			xs := x[(n*p.c+g*p.cg)*p.inP:][:p.cg*p.inP]
			for b := 0; b < p.bands(); b++ {
				p0, p1 := p.bandCols(b)
				nc := p1 - p0
				p.im2col(xs, b, cols[:p.kdim*nc])
				for i, v := range cols[:p.kdim*nc] {
					icols[i] = int32(v)
				}
				t := tmp[:p.mg*nc]
				clear(t)
				gemmInt32(p.mg, nc, p.kdim, w[g*p.mg*p.kdim:], icols, t)
				for m := 0; m < p.mg; m++ {
					copy(y[(n*p.m+g*p.mg+m)*p.outP+p0:][:nc], t[m*nc:(m+1)*nc])
				}
			}
		}
	}
	return []*graph.Tensor{graph.MustTensor(graph.Int32, nchwShape(p.n, p.m, p.outSpatial), y)}, nil
}
