package engine

import (
	"cmp"
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// cmpOp names a comparison.
type cmpOp int

const (
	cmpEq cmpOp = iota
	cmpLt
	cmpGt
	cmpLe
	cmpGe
)

// cmpFunc returns the scalar comparison for ordered T (NaN compares false
// with everything, as in IEEE arithmetic).
func cmpFunc[T cmp.Ordered](op cmpOp) func(x, y T) bool {
	switch op {
	case cmpEq:
		return func(x, y T) bool { return x == y }
	case cmpLt:
		return func(x, y T) bool { return x < y }
	case cmpGt:
		return func(x, y T) bool { return x > y }
	case cmpLe:
		return func(x, y T) bool { return x <= y }
	}
	return func(x, y T) bool { return x >= y }
}

func compareT[T cmp.Ordered](a, b *graph.Tensor, op cmpOp) (*graph.Tensor, error) {
	dst, shape, err := broadcastBinary(nil, a.Data.([]T), a.Shape, b.Data.([]T), b.Shape, vecOf(cmpFunc[T](op)))
	if err != nil {
		return nil, err
	}
	return out(graph.Bool, shape, dst), nil
}

// compare evaluates a comparison with broadcasting; the result is bool.
func compare(a, b *graph.Tensor, op cmpOp) (*graph.Tensor, error) {
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
		return compareT[float32](wa, wb, op)
	}
	switch a.Data.(type) {
	case []float32:
		return compareT[float32](a, b, op)
	case []float64:
		return compareT[float64](a, b, op)
	case []int64:
		return compareT[int64](a, b, op)
	case []int32:
		return compareT[int32](a, b, op)
	case []int16:
		return compareT[int16](a, b, op)
	case []int8:
		return compareT[int8](a, b, op)
	case []uint8:
		if a.DType == graph.Uint8 || a.DType == graph.Uint4 {
			return compareT[uint8](a, b, op)
		}
	case []uint16:
		return compareT[uint16](a, b, op)
	case []uint32:
		return compareT[uint32](a, b, op)
	case []uint64:
		return compareT[uint64](a, b, op)
	case []string:
		return compareT[string](a, b, op)
	case []bool:
		if op == cmpEq {
			return logicBinary(a, b, func(x, y bool) bool { return x == y })
		}
	}
	return nil, fmt.Errorf("comparison of %s is not supported", a.DType)
}

func compareKernel(op cmpOp) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		return oneErr(compare(in[0], in[1], op))
	}
}

// logicBinary applies f to two bool tensors with broadcasting.
func logicBinary(a, b *graph.Tensor, f func(x, y bool) bool) (*graph.Tensor, error) {
	x, ok1 := a.Data.([]bool)
	y, ok2 := b.Data.([]bool)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("logical operators take bool inputs, got %s and %s", a.DType, b.DType)
	}
	dst, shape, err := broadcastBinary(nil, x, a.Shape, y, b.Shape, vecOf(f))
	if err != nil {
		return nil, err
	}
	return out(graph.Bool, shape, dst), nil
}

func logicKernel(f func(x, y bool) bool) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		return oneErr(logicBinary(in[0], in[1], f))
	}
}

func notKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x, ok := in[0].Data.([]bool)
	if !ok {
		return nil, fmt.Errorf("Not takes bool, got %s", in[0].DType)
	}
	y := make([]bool, len(x))
	for i, v := range x {
		y[i] = !v
	}
	return one(out(graph.Bool, in[0].Shape, y))
}

// floatPredicate evaluates a test on every element of a float tensor.
func floatPredicate(t *graph.Tensor, f func(float64) bool) (*graph.Tensor, error) {
	v, err := toFloat64s(t)
	if err != nil {
		return nil, err
	}
	y := make([]bool, len(v))
	for i, x := range v {
		y[i] = f(x)
	}
	return out(graph.Bool, t.Shape, y), nil
}

func isNaNKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	return oneErr(floatPredicate(in[0], math.IsNaN))
}

func isInfKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	neg, pos := ctx.Node.AttrInt("detect_negative", 1) != 0, ctx.Node.AttrInt("detect_positive", 1) != 0
	return oneErr(floatPredicate(in[0], func(x float64) bool {
		return neg && math.IsInf(x, -1) || pos && math.IsInf(x, 1)
	}))
}

// whereKernel is Where(cond, x, y) with three-way broadcasting.
func whereKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, err
	}
	c, x, y := in[0], in[1], in[2]
	cond, ok := c.Data.([]bool)
	if !ok {
		return nil, fmt.Errorf("condition must be bool, got %s", c.DType)
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("X is %s but Y is %s", x.DType, y.DType)
	}
	shape, err := BroadcastShape(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	ops, err := opsWith(ctx, x.Data)
	if err != nil {
		return nil, err
	}
	data := ops.where(cond, BroadcastIndex(c.Shape, shape), x.Data, BroadcastIndex(x.Shape, shape), y.Data, BroadcastIndex(y.Shape, shape))
	return one(out(x.DType, shape, data))
}

// whereGrad routes the gradient to X where cond holds and to Y elsewhere.
func whereGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, 3)
	g := dout[0]
	if g == nil || !isFloatTensor(in[1]) {
		return grads, nil
	}
	gv, err := g.Float32s()
	if err != nil {
		return nil, err
	}
	cond := in[0].Data.([]bool)
	ci := BroadcastIndex(in[0].Shape, g.Shape)
	gx, gy := make([]float32, len(gv)), make([]float32, len(gv))
	for i, v := range gv {
		if cond[ci[i]] {
			gx[i] = v
		} else {
			gy[i] = v
		}
	}
	if grads[1], err = Unbroadcast(f32out(g.Shape, gx), in[1].Shape); err != nil {
		return nil, err
	}
	if grads[2], err = Unbroadcast(f32out(g.Shape, gy), in[2].Shape); err != nil {
		return nil, err
	}
	return grads, nil
}

// bitShiftKernel is BitShift on unsigned integers (direction LEFT/RIGHT).
func bitShiftKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	left := ctx.Node.AttrString("direction", "") == "LEFT"
	x, err := CastTensor(in[0], graph.Uint64, true)
	if err != nil {
		return nil, err
	}
	s, err := CastTensor(in[1], graph.Uint64, true)
	if err != nil {
		return nil, err
	}
	dst, shape, err := broadcastBinary(nil, x.Data.([]uint64), x.Shape, s.Data.([]uint64), s.Shape, vecOf(func(v, n uint64) uint64 {
		if left {
			return v << n
		}
		return v >> n
	}))
	if err != nil {
		return nil, err
	}
	return oneErr(CastTensor(out(graph.Uint64, shape, dst), in[0].DType, true))
}

func checkBitShift(n *graph.Node) error {
	switch d := n.AttrString("direction", ""); d {
	case "LEFT", "RIGHT":
		return nil
	default:
		return fmt.Errorf("direction %q must be LEFT or RIGHT", d)
	}
}

func init() {
	for _, e := range []struct {
		name string
		min  int64
		op   cmpOp
	}{{"Equal", 7, cmpEq}, {"Less", 7, cmpLt}, {"Greater", 7, cmpGt}, {"LessOrEqual", 12, cmpLe}, {"GreaterOrEqual", 12, cmpGe}} {
		Register(&Op{Type: e.name, MinOpset: e.min, Forward: compareKernel(e.op)})
	}
	Register(&Op{Type: "And", MinOpset: 7, Forward: logicKernel(func(x, y bool) bool { return x && y })})
	Register(&Op{Type: "Or", MinOpset: 7, Forward: logicKernel(func(x, y bool) bool { return x || y })})
	Register(&Op{Type: "Xor", MinOpset: 7, Forward: logicKernel(func(x, y bool) bool { return x != y })})
	Register(&Op{Type: "Not", MinOpset: 1, Forward: notKernel})
	Register(&Op{Type: "IsNaN", MinOpset: 9, Forward: isNaNKernel})
	Register(&Op{Type: "IsInf", MinOpset: 10, Forward: isInfKernel})
	Register(&Op{Type: "Where", MinOpset: 9, Forward: whereKernel, Backward: whereGrad})
	Register(&Op{Type: "BitShift", MinOpset: 11, Forward: bitShiftKernel, Check: checkBitShift})
}
