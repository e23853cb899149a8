package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// qlinearMatMulKernel is QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp,
// y_scale, y_zp): the exact int32 product (a - a_zp)·(b - b_zp) (as
// MatMulInteger, with MatMul's batch broadcasting), requantized as
// y = saturate(round_half_even(acc · a_scale·b_scale / y_scale) + y_zp).
// The multiplier is formed in float32 and applied in float64, as the ONNX
// reference does. a's scale and zero point are per tensor or per row of
// a; b's per tensor or per column of b.
func qlinearMatMulKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 8); err != nil {
		return nil, err
	}
	a, as, az, b, bs, bz, ys, yz := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	if a.Rank() < 2 || b.Rank() < 2 {
		return nil, fmt.Errorf("inputs must have rank 2 or more, got shapes %v and %v", a.Shape, b.Shape)
	}
	acc, err := matmulIntegerForward(ctx, []*graph.Tensor{a, b, az, bz})
	if err != nil {
		return nil, err
	}
	c := acc[0].Data.([]int32)
	m, n := int(a.Shape[a.Rank()-2]), int(b.Shape[b.Rank()-1])
	sa, err := scaleVector(as, m, "a_scale")
	if err != nil {
		return nil, err
	}
	sb, err := scaleVector(bs, n, "b_scale")
	if err != nil {
		return nil, err
	}
	sy, zy, err := outputQuantizer(ys, yz)
	if err != nil {
		return nil, err
	}
	lo, hi := yz.DType.IntRange()
	y := make([]int64, len(c))
	for e, v := range c {
		row, col := (e/n)%m, e%n
		mult := sa[row%len(sa)] * sb[col%len(sb)] / sy
		y[e] = quant.Saturate(float64(v)*float64(mult), zy, lo, hi)
	}
	return oneErr(castInts(y, acc[0].Shape, yz.DType))
}

// qlinearConvKernel is QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp,
// y_scale, y_zp, B): the exact int32 convolution of (x - x_zp) and (w -
// w_zp) (as ConvInteger, padding with x_zp), plus the int32 bias, then
// y = saturate(round_half_even(acc · x_scale·w_scale[m] / y_scale) + y_zp)
// with w's scale per tensor or per output channel m.
func qlinearConvKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 8); err != nil {
		return nil, err
	}
	x, xs, xz, w, ws, wz, ys, yz := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	acc, err := convIntegerForward(ctx, []*graph.Tensor{x, w, xz, wz})
	if err != nil {
		return nil, err
	}
	c := acc[0].Data.([]int32)
	shape := acc[0].Shape
	m := int(shape[1])
	spatial := ShapeSize(shape[2:])
	var bias []int64
	if b := optIn(in, 8); b != nil {
		if bias, err = TensorInts(b, "B"); err != nil {
			return nil, err
		}
		if len(bias) != m {
			return nil, fmt.Errorf("bias has %d values for %d output channels", len(bias), m)
		}
	}
	sx, err := scaleVector(xs, 1, "x_scale")
	if err != nil {
		return nil, err
	}
	sw, err := scaleVector(ws, m, "w_scale")
	if err != nil {
		return nil, err
	}
	sy, zy, err := outputQuantizer(ys, yz)
	if err != nil {
		return nil, err
	}
	lo, hi := yz.DType.IntRange()
	y := make([]int64, len(c))
	for e, v := range c {
		ch := (e / spatial) % m
		a := int64(v)
		if bias != nil {
			a += bias[ch]
		}
		mult := sx[0] * sw[ch%len(sw)] / sy
		y[e] = quant.Saturate(float64(a)*float64(mult), zy, lo, hi)
	}
	return oneErr(castInts(y, shape, yz.DType))
}

// scaleVector reads a scale that is one value or n values.
// outputQuantizer reads a QLinear operator's y_scale and y_zero_point,
// one of each.
func outputQuantizer(ys, yz *graph.Tensor) (scale float32, zp int64, err error) {
	sy, err := scaleVector(ys, 1, "y_scale")
	if err != nil {
		return 0, 0, err
	}
	z, err := yz.Int64s()
	if err != nil || len(z) != 1 {
		return 0, 0, fmt.Errorf("y_zero_point must be one integer")
	}
	return sy[0], z[0], nil
}

func scaleVector(t *graph.Tensor, n int, what string) ([]float32, error) {
	f, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(f) != 1 && len(f) != n {
		return nil, fmt.Errorf("%s has %d values, want 1 or %d", what, len(f), n)
	}
	return f, nil
}

func init() {
	Register(&Op{Type: "QLinearMatMul", MinOpset: 10, Forward: qlinearMatMulKernel})
	Register(&Op{Type: "QLinearConv", MinOpset: 10, Forward: qlinearConvKernel, Check: checkConv})
}
