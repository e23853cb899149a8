package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// binOp names a binary arithmetic operation with numpy broadcasting.
type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
	opMod  // integer modulo with the sign of the divisor (Python %)
	opFmod // remainder with the sign of the dividend (C fmod)
)

// vecFor returns the run kernel of op for element type T. Add, Sub, Mul
// and Div are written out so the compiler inlines the arithmetic.
func vecFor[T number](op binOp) vecFunc[T, T] {
	switch op {
	case opAdd:
		return func(dst, a []T, sa int, b []T, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(dst)], b[:len(dst)]
				for i := range dst {
					dst[i] = a[i] + b[i]
				}
			case sa == 1:
				y := b[0]
				a = a[:len(dst)]
				for i := range dst {
					dst[i] = a[i] + y
				}
			case sb == 1:
				x := a[0]
				b = b[:len(dst)]
				for i := range dst {
					dst[i] = x + b[i]
				}
			default:
				fillVec(dst, a[0]+b[0])
			}
		}
	case opSub:
		return func(dst, a []T, sa int, b []T, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(dst)], b[:len(dst)]
				for i := range dst {
					dst[i] = a[i] - b[i]
				}
			case sa == 1:
				y := b[0]
				a = a[:len(dst)]
				for i := range dst {
					dst[i] = a[i] - y
				}
			case sb == 1:
				x := a[0]
				b = b[:len(dst)]
				for i := range dst {
					dst[i] = x - b[i]
				}
			default:
				fillVec(dst, a[0]-b[0])
			}
		}
	case opMul:
		return func(dst, a []T, sa int, b []T, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(dst)], b[:len(dst)]
				for i := range dst {
					dst[i] = a[i] * b[i]
				}
			case sa == 1:
				y := b[0]
				a = a[:len(dst)]
				for i := range dst {
					dst[i] = a[i] * y
				}
			case sb == 1:
				x := a[0]
				b = b[:len(dst)]
				for i := range dst {
					dst[i] = x * b[i]
				}
			default:
				fillVec(dst, a[0]*b[0])
			}
		}
	case opDiv:
		return func(dst, a []T, sa int, b []T, sb int) {
			switch {
			case sa == 1 && sb == 1:
				a, b = a[:len(dst)], b[:len(dst)]
				for i := range dst {
					dst[i] = a[i] / b[i]
				}
			case sa == 1:
				y := b[0]
				a = a[:len(dst)]
				for i := range dst {
					dst[i] = a[i] / y
				}
			case sb == 1:
				x := a[0]
				b = b[:len(dst)]
				for i := range dst {
					dst[i] = x / b[i]
				}
			default:
				fillVec(dst, a[0]/b[0])
			}
		}
	case opMax:
		// NaN propagates, as numpy.maximum.
		return vecOf(func(x, y T) T {
			if x > y || x != x {
				return x
			}
			return y
		})
	case opMin:
		return vecOf(func(x, y T) T {
			if x < y || x != x {
				return x
			}
			return y
		})
	case opMod:
		return vecOf(func(x, y T) T { return pyMod(x, y) })
	case opFmod:
		return vecOf(func(x, y T) T { return cMod(x, y) })
	}
	panic(fmt.Sprintf("engine: unknown binary op %d", op))
}

func fillVec[T any](dst []T, v T) {
	for i := range dst {
		dst[i] = v
	}
}

// cMod is the remainder of truncated division (C fmod), for any number.
func cMod[T number](x, y T) T {
	switch any(x).(type) {
	case float32, float64:
		return T(math.Mod(float64(x), float64(y)))
	}
	return intRem(x, y)
}

// intRem is x % y for integer types (T is never a float here).
func intRem[T number](x, y T) T {
	q := x / y
	return x - q*y
}

// pyMod is the remainder with the sign of the divisor (numpy.mod).
func pyMod[T number](x, y T) T {
	r := cMod(x, y)
	if r != 0 && (r < 0) != (y < 0) {
		r += y
	}
	return r
}

// binaryT applies op to two tensors holding []T.
func binaryT[T number](a, b *graph.Tensor, op binOp) (*graph.Tensor, error) {
	dst, shape, err := broadcastBinary(nil, a.Data.([]T), a.Shape, b.Data.([]T), b.Shape, vecFor[T](op))
	if err != nil {
		return nil, err
	}
	return out(a.DType, shape, dst), nil
}

// numericBinary applies op to two tensors of one numeric type, with numpy
// broadcasting. 16-bit floats are computed in float32 and rounded back.
func numericBinary(a, b *graph.Tensor, op binOp) (*graph.Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("inputs have different types %s and %s", a.DType, b.DType)
	}
	if isHalf(a.DType) {
		wa, err := widenHalf(a)
		if err != nil {
			return nil, err
		}
		wb, err := widenHalf(b)
		if err != nil {
			return nil, err
		}
		r, err := binaryT[float32](wa, wb, op)
		if err != nil {
			return nil, err
		}
		return narrowHalf(r, a.DType), nil
	}
	if (op == opDiv || op == opMod || op == opFmod) && hasZero(b) {
		return nil, fmt.Errorf("integer division by zero")
	}
	switch a.Data.(type) {
	case []float32:
		return binaryT[float32](a, b, op)
	case []float64:
		return binaryT[float64](a, b, op)
	case []int64:
		return binaryT[int64](a, b, op)
	case []int32:
		return binaryT[int32](a, b, op)
	case []int16:
		return binaryT[int16](a, b, op)
	case []int8:
		if a.DType == graph.Int8 {
			return binaryT[int8](a, b, op)
		}
	case []uint8:
		if a.DType == graph.Uint8 {
			return binaryT[uint8](a, b, op)
		}
	case []uint16:
		return binaryT[uint16](a, b, op)
	case []uint32:
		return binaryT[uint32](a, b, op)
	case []uint64:
		return binaryT[uint64](a, b, op)
	}
	return nil, fmt.Errorf("arithmetic on %s is not supported", a.DType)
}

// arithKernel is the forward kernel of a two-input arithmetic operator.
func arithKernel(op binOp) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		if t, ok := binaryInPlace(ctx, in[0], in[1], op); ok {
			return one(t)
		}
		return oneErr(numericBinary(in[0], in[1], op))
	}
}

// binaryInPlace computes a float32 op into an input buffer the runner lets
// it reuse (Context.Reusable) when that input already has the result's
// shape, else into a buffer from the run (Context.RawFloat32s); ok is
// false when the inputs are not both float32 or do not broadcast.
func binaryInPlace(ctx *Context, a, b *graph.Tensor, op binOp) (*graph.Tensor, bool) {
	ad, ok1 := a.Data.([]float32)
	bd, ok2 := b.Data.([]float32)
	if !ok1 || !ok2 || a.DType != graph.Float || b.DType != graph.Float {
		return nil, false
	}
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, false
	}
	var dst []float32
	switch {
	case ctx.Reusable(0) && slices.Equal(a.Shape, shape):
		dst = ad
	case ctx.Reusable(1) && slices.Equal(b.Shape, shape):
		dst = bd
	default:
		dst = ctx.RawFloat32s(ShapeSize(shape)) // the plan writes every element
	}
	p := newPlan(shape, a.Shape, b.Shape)
	vec := vecFor[float32](op)
	p.parallelRuns(func(o int, offs []int, n int) {
		vec(dst[o:o+n], ad[offs[0]:], p.istep[0], bd[offs[1]:], p.istep[1])
	})
	return f32out(shape, dst), true
}

// oneErr wraps a single result.
func oneErr(t *graph.Tensor, err error) ([]*graph.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return []*graph.Tensor{t}, nil
}

// modKernel is Mod: fmod=1 is C fmod (required for floats), fmod=0 the
// sign-of-divisor integer modulo.
func modKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	if ctx.Node.AttrInt("fmod", 0) == 1 {
		return oneErr(numericBinary(in[0], in[1], opFmod))
	}
	if in[0].DType.IsFloat() {
		return nil, fmt.Errorf("Mod on %s needs fmod=1", in[0].DType)
	}
	return oneErr(numericBinary(in[0], in[1], opMod))
}

// powKernel is Pow: the result has the base's type; the exponent may be
// any numeric type. It is computed in float64.
func powKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	a, err := toFloat64s(in[0])
	if err != nil {
		return nil, err
	}
	b, err := toFloat64s(in[1])
	if err != nil {
		return nil, err
	}
	dst, shape, err := broadcastBinary(nil, a, in[0].Shape, b, in[1].Shape, vecOf(math.Pow))
	if err != nil {
		return nil, err
	}
	return oneErr(fromFloat64s(f64out(shape, dst), in[0].DType))
}

func f64out(shape []int64, d []float64) *graph.Tensor { return out(graph.Double, shape, d) }

func init() {
	for _, e := range []struct {
		name string
		op   binOp
		grad Gradient
	}{
		{"Add", opAdd, addGrad},
		{"Sub", opSub, subGrad},
		{"Mul", opMul, mulGrad},
		{"Div", opDiv, divGrad},
	} {
		// Opsets 1-6 broadcast with the legacy broadcast/axis attributes;
		// from 7 on broadcasting is numpy's.
		Register(&Op{Type: e.name, MinOpset: 7, Forward: arithKernel(e.op), Backward: e.grad})
	}
	Register(&Op{Type: "Pow", MinOpset: 7, Forward: powKernel, Backward: powGrad})
	Register(&Op{Type: "Mod", MinOpset: 10, Forward: modKernel})
}
