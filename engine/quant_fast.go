package engine

import (
	"github.com/onnxq/onnxq/graph"
)

// The common case of a QDQ model, float32 activations quantized to 4, 8
// or 16-bit integers with float32 scales per tensor or per axis, computed
// directly between the typed slices: the same arithmetic as the general
// kernels in quant_linear.go (float32 division, round half to even in
// float64, zero point added, saturation; float32 subtraction and
// product), without their float64 and int64 intermediates.

// qint is the Go element type of the integer quantized types.
type qint interface {
	~uint8 | ~int8 | ~uint16 | ~int16
}

// fastQuantLayout returns the (outer, dim, inner) blocks of a per-tensor
// or per-axis layout: element e uses scale (e/inner)%dim. ok is false for
// blocked layouts.
func fastQuantLayout(l *quantLayout, n int) (outer, dim, inner int, ok bool) {
	switch l.mode {
	case "tensor":
		return 1, 1, n, true
	case "axis":
		return l.outer, l.dim, l.inner, true
	}
	return 0, 0, 0, false
}

// quantizeFast computes QuantizeLinear when x and scale are float32 (and
// the precision is float32) and od is an integer type of at most 16 bits.
// ok is false when the case does not apply.
func quantizeFast(ctx *Context, x, scale, zp *graph.Tensor, od graph.DType, l *quantLayout) (*graph.Tensor, bool) {
	if p := graph.DType(ctx.Node.AttrInt("precision", 0)); p != graph.Undefined && p != graph.Float {
		return nil, false
	}
	xv, ok1 := x.Data.([]float32)
	s, ok2 := scale.Data.([]float32)
	if !ok1 || !ok2 || x.DType != graph.Float || scale.DType != graph.Float || (zp != nil && zp.DType != od) {
		return nil, false
	}
	outer, dim, inner, ok := fastQuantLayout(l, len(xv))
	if !ok {
		return nil, false
	}
	lo, hi := od.IntRange()
	var data any
	switch od {
	case graph.Uint8, graph.Uint4:
		data = quantizeRows[uint8](ctx, xv, s, zp, outer, dim, inner, lo, hi)
	case graph.Int8, graph.Int4:
		data = quantizeRows[int8](ctx, xv, s, zp, outer, dim, inner, lo, hi)
	case graph.Uint16:
		data = quantizeRows[uint16](ctx, xv, s, zp, outer, dim, inner, lo, hi)
	case graph.Int16:
		data = quantizeRows[int16](ctx, xv, s, zp, outer, dim, inner, lo, hi)
	default:
		return nil, false
	}
	return out(od, x.Shape, data), true
}

// magic32 is 1.5·2^23: for |q| <= 2^22, (q + magic32) - magic32 in
// float32 is q rounded to an integer, half to even (the sum lies where
// float32's spacing is 1, and magic32 is even).
const magic32 = 1.5 * (1 << 23)

// quantizeRows quantizes x in blocks of inner elements sharing scale
// s[c] and zero point zp[c] (c = block index mod dim), into a buffer from
// ctx (uint8 and int8 are recycled like float32). It computes what
// quantizeGeneral does, in float32 and int32: q = x / s (float32, as
// there); when lo-z-0.5 < q < hi-z+0.5, round(q) + z lies in [lo, hi], so
// it is computed with the magic32 rounding (|q| < 2^17) and stored;
// otherwise the result saturates: hi for q >= hi-z+0.5, lo below and for
// NaN.
func quantizeRows[T qint](ctx *Context, x, s []float32, zp *graph.Tensor, outer, dim, inner int, lo, hi int64) []T {
	var z []T
	if zp != nil {
		z = zp.Data.([]T)
	}
	y := newSlice[T](ctx, len(x), false) // every element is written below
	l, h := int32(lo), int32(hi)
	ParallelFor(outer*dim, max(1, (1<<15)/max(inner, 1)), func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			c := b % dim
			sc, zc := s[c], int32(0)
			if z != nil {
				zc = int32(z[c])
			}
			qlo, qhi := float32(l-zc)-0.5, float32(h-zc)+0.5
			xs, ys := x[b*inner:(b+1)*inner], y[b*inner:(b+1)*inner]
			for i, v := range xs {
				q := v / sc
				if !(q > qlo && q < qhi) { // saturated, or NaN (lo)
					ys[i] = T(l)
					if q >= qhi {
						ys[i] = T(h)
					}
					continue
				}
				ys[i] = T(int32((q+magic32)-magic32) + zc)
			}
		}
	})
	return y
}

// dequantizeFast computes DequantizeLinear of an integer tensor of at
// most 16 bits with float32 scales into a float32 result. ok is false
// when the case does not apply.
func dequantizeFast(ctx *Context, x, scale, zp *graph.Tensor, od graph.DType, l *quantLayout) (*graph.Tensor, bool) {
	s, ok := scale.Data.([]float32)
	if !ok || scale.DType != graph.Float || od != graph.Float {
		return nil, false
	}
	outer, dim, inner, ok := fastQuantLayout(l, x.Len())
	if !ok {
		return nil, false
	}
	var y []float32
	switch x.DType {
	case graph.Uint8, graph.Uint4:
		y = dequantizeRows[uint8](ctx, x, s, zp, outer, dim, inner)
	case graph.Int8, graph.Int4:
		y = dequantizeRows[int8](ctx, x, s, zp, outer, dim, inner)
	case graph.Uint16:
		y = dequantizeRows[uint16](ctx, x, s, zp, outer, dim, inner)
	case graph.Int16:
		y = dequantizeRows[int16](ctx, x, s, zp, outer, dim, inner)
	default:
		return nil, false
	}
	return f32out(x.Shape, y), true
}

// dequantizeRows computes (x - zp[c]) * s[c] in float32 in blocks of
// inner elements (x * s[c] without a zero point), into a buffer from ctx.
func dequantizeRows[T qint](ctx *Context, x *graph.Tensor, s []float32, zp *graph.Tensor, outer, dim, inner int) []float32 {
	xv := x.Data.([]T)
	var z []T
	if zp != nil {
		z = zp.Data.([]T)
	}
	y := ctx.RawFloat32s(len(xv)) // every element is written below
	ParallelFor(outer*dim, max(1, (1<<15)/max(inner, 1)), func(b0, b1 int) {
		for b := b0; b < b1; b++ {
			c := b % dim
			sc := s[c]
			xs, ys := xv[b*inner:(b+1)*inner], y[b*inner:(b+1)*inner]
			if z == nil {
				for i, v := range xs {
					ys[i] = float32(v) * sc
				}
				continue
			}
			zf := float32(z[c])
			for i, v := range xs {
				ys[i] = (float32(v) - zf) * sc
			}
		}
	})
	return y
}
