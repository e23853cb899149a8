package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// roundTo returns a function rounding a float32 to the precision of dt
// (identity for FLOAT; nil for DOUBLE and integer types, which compute in
// float64).
func roundTo(dt graph.DType) func(float32) float32 {
	switch dt {
	case graph.Float:
		return func(v float32) float32 { return v }
	case graph.Float16:
		return func(v float32) float32 { return graph.Float16ToFloat32(graph.Float32ToFloat16(v)) }
	case graph.BFloat16:
		return func(v float32) float32 { return graph.BFloat16ToFloat32(graph.Float32ToBFloat16(v)) }
	}
	return nil
}

// quantizeOutType resolves QuantizeLinear's output type: the zero point's
// type, else output_dtype (opset 21+), else uint8.
func quantizeOutType(ctx *Context, zp *graph.Tensor) (graph.DType, error) {
	od := graph.DType(ctx.Node.AttrInt("output_dtype", 0))
	if zp != nil {
		if od != graph.Undefined && od != zp.DType {
			return 0, fmt.Errorf("output_dtype %s does not match the zero point type %s", od, zp.DType)
		}
		od = zp.DType
	}
	if od == graph.Undefined {
		od = graph.Uint8
	}
	if !quantTypeAllowed(od, ctx.Opset) {
		return 0, fmt.Errorf("cannot quantize to %s at opset %d", od, ctx.Opset)
	}
	return od, nil
}

// quantizeKernel is QuantizeLinear: y = saturate(round(x / scale) + zp),
// rounding half to even. The division is done in the precision of the
// scale's type (or the precision attribute, opset 23+): float32 for FLOAT,
// float32 rounded to 16 bits for FLOAT16/BFLOAT16, float64 for int32
// inputs (as numpy promotes). Float8 outputs convert x / scale with the
// saturate attribute; their zero point is not added (it must be 0).
func quantizeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x, scale, zp := in[0], in[1], optIn(in, 2)
	if err := checkZeroPoint(scale, zp); err != nil {
		return nil, err
	}
	od, err := quantizeOutType(ctx, zp)
	if err != nil {
		return nil, err
	}
	l, err := newQuantLayout(ctx, x, scale)
	if err != nil {
		return nil, err
	}
	if y, ok := quantizeFast(ctx, x, scale, zp, od, l); ok {
		return one(y)
	}
	return oneErr(quantizeGeneral(ctx, x, scale, zp, od, l))
}

// quantizeGeneral is QuantizeLinear for every type and layout, through
// float64 and int64 intermediates.
func quantizeGeneral(ctx *Context, x, scale, zp *graph.Tensor, od graph.DType, l *quantLayout) (*graph.Tensor, error) {
	prec := scale.DType
	if p := graph.DType(ctx.Node.AttrInt("precision", 0)); p != graph.Undefined {
		prec = p
	}
	s, err := scale.Float32s()
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	q := make([]float64, x.Len())
	if x.DType == graph.Int32 || roundTo(prec) == nil {
		xv, err := toFloat64s(x)
		if err != nil {
			return nil, err
		}
		for i, v := range xv {
			q[i] = v / float64(s[l.index(i)])
		}
	} else {
		xv, err := x.Float32s()
		if err != nil {
			return nil, err
		}
		r := roundTo(prec)
		for i, v := range xv {
			q[i] = float64(r(r(v) / r(s[l.index(i)])))
		}
	}
	if isFloat8(od) {
		if zp != nil {
			if z, err := toFloat64s(zp); err != nil || !allZero(z) {
				return nil, fmt.Errorf("a float8 zero point must be 0")
			}
		}
		return castFloats(q, x.Shape, od, ctx.Node.AttrInt("saturate", 1) != 0)
	}
	var z []int64
	if zp != nil {
		if z, err = zp.Int64s(); err != nil {
			return nil, fmt.Errorf("zero point: %w", err)
		}
	}
	lo, hi := od.IntRange()
	y := make([]int64, len(q))
	for i, v := range q {
		var zi int64
		if z != nil {
			zi = z[l.index(i)]
		}
		y[i] = quant.Saturate(v, zi, lo, hi)
	}
	return castInts(y, x.Shape, od)
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// dequantizeKernel is DequantizeLinear: y = (x - zp) * scale, computed in
// float32 (x and zp converted exactly, one rounding in the product) and
// returned in the scale's type, or output_dtype (opset 23+).
func dequantizeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x, scale, zp := in[0], in[1], optIn(in, 2)
	if !quantTypeAllowed(x.DType, ctx.Opset) && x.DType != graph.Int32 {
		return nil, fmt.Errorf("cannot dequantize %s at opset %d", x.DType, ctx.Opset)
	}
	if zp != nil && zp.DType != x.DType {
		return nil, fmt.Errorf("zero point is %s but the input is %s", zp.DType, x.DType)
	}
	if err := checkZeroPoint(scale, zp); err != nil {
		return nil, err
	}
	l, err := newQuantLayout(ctx, x, scale)
	if err != nil {
		return nil, err
	}
	od := scale.DType
	if v := graph.DType(ctx.Node.AttrInt("output_dtype", 0)); v != graph.Undefined {
		od = v
	}
	if y, ok := dequantizeFast(ctx, x, scale, zp, od, l); ok {
		return one(y)
	}
	return oneErr(dequantizeGeneral(x, scale, zp, od, l))
}

// dequantizeGeneral is DequantizeLinear for every type and layout.
func dequantizeGeneral(x, scale, zp *graph.Tensor, od graph.DType, l *quantLayout) (*graph.Tensor, error) {
	xv, err := x.Float32s()
	if err != nil {
		return nil, err
	}
	s, err := scale.Float32s()
	if err != nil {
		return nil, fmt.Errorf("scale: %w", err)
	}
	var z []float32
	if zp != nil {
		if z, err = zp.Float32s(); err != nil {
			return nil, fmt.Errorf("zero point: %w", err)
		}
		if isFloat8(x.DType) {
			for _, v := range z {
				if v != 0 {
					return nil, fmt.Errorf("a float8 zero point must be 0")
				}
			}
			z = nil
		}
	}
	y := make([]float32, len(xv))
	switch {
	case l.mode == "tensor" && z == nil:
		for i, v := range xv {
			y[i] = v * s[0]
		}
	case l.mode == "tensor":
		for i, v := range xv {
			y[i] = (v - z[0]) * s[0]
		}
	default:
		for i, v := range xv {
			k := l.index(i)
			if z != nil {
				v -= z[k]
			}
			y[i] = v * s[k]
		}
	}
	return CastTensor(f32out(x.Shape, y), od, true)
}

func init() {
	for _, r := range []struct{ lo, hi int64 }{{10, 12}, {13, 18}, {19, 20}, {21, 22}, {23, 24}} {
		qcheck := checkQuantAttrs(map[string]int64{"axis": 13, "saturate": 19, "block_size": 21, "output_dtype": 21, "precision": 23})
		dqcheck := checkQuantAttrs(map[string]int64{"axis": 13, "block_size": 21, "output_dtype": 23})
		lo := r.lo
		Register(&Op{Type: "QuantizeLinear", MinOpset: r.lo, MaxOpset: r.hi, Forward: quantizeKernel,
			Check: func(n *graph.Node) error { return qcheck(n, lo) }})
		Register(&Op{Type: "DequantizeLinear", MinOpset: r.lo, MaxOpset: r.hi, Forward: dequantizeKernel,
			Check: func(n *graph.Node) error { return dqcheck(n, lo) }})
	}
}
