package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// unaryFns is one elementwise function of one input: f on floats
// (computed in float64 and rounded to the tensor's type), i on integers
// (nil: the op takes floats only) and d, the derivative dy/dx given x and
// y = f(x) (nil: not differentiable).
type unaryFns struct {
	f func(x float64) float64
	i func(x int64) int64
	d func(x, y float64) float64
	// v32, if set, computes f over float32 slices directly (the hot
	// activations), avoiding a call and two conversions per element.
	v32 func(dst, src []float32)
}

// unaryDef is a registry entry of the unary table: the first opset of the
// op's current semantics and the functions, which may depend on the
// node's attributes (alpha, beta...).
type unaryDef struct {
	min int64
	fns func(n *graph.Node) unaryFns
}

// plain wraps attribute-free functions.
func plain(f func(float64) float64, i func(int64) int64, d func(x, y float64) float64) func(*graph.Node) unaryFns {
	return func(*graph.Node) unaryFns { return unaryFns{f: f, i: i, d: d} }
}

// unaryOps is the table of one-input elementwise operators without
// attributes. Activations with attributes are in activationOps.
var unaryOps = map[string]unaryDef{
	"Sqrt":       {1, plain(math.Sqrt, nil, func(x, y float64) float64 { return 0.5 / y })},
	"Reciprocal": {1, plain(func(x float64) float64 { return 1 / x }, nil, func(x, y float64) float64 { return -y * y })},
	"Exp":        {1, plain(math.Exp, nil, func(x, y float64) float64 { return y })},
	"Log":        {1, plain(math.Log, nil, func(x, y float64) float64 { return 1 / x })},
	"Neg": {1, plain(func(x float64) float64 { return -x }, func(x int64) int64 { return -x },
		func(x, y float64) float64 { return -1 })},
	"Abs": {1, plain(math.Abs, func(x int64) int64 {
		if x < 0 {
			return -x
		}
		return x
	}, func(x, y float64) float64 { return sign(x) })},
	"Erf":     {9, plain(math.Erf, nil, func(x, y float64) float64 { return 2 / math.SqrtPi * math.Exp(-x*x) })},
	"Floor":   {1, plain(math.Floor, nil, nil)},
	"Ceil":    {1, plain(math.Ceil, nil, nil)},
	"Round":   {11, plain(math.RoundToEven, nil, nil)},
	"Sign":    {9, plain(sign, func(x int64) int64 { return int64(sign(float64(x))) }, nil)},
	"Sigmoid": {1, plain(sigmoid, nil, func(x, y float64) float64 { return y * (1 - y) })},
	"Tanh":    {1, plain(math.Tanh, nil, func(x, y float64) float64 { return 1 - y*y })},
	"Relu": {1, func(*graph.Node) unaryFns {
		return unaryFns{
			f: func(x float64) float64 { return math.Max(x, 0) },
			i: func(x int64) int64 { return max(x, 0) },
			d: func(x, y float64) float64 { return step(x) },
			v32: func(dst, src []float32) {
				src = src[:len(dst)]
				for i, v := range src {
					dst[i] = max(v, 0) // branch-free; keeps NaN
				}
			},
		}
	}},
	"Softplus": {1, plain(softplus, nil, func(x, y float64) float64 { return sigmoid(x) })},
	"Softsign": {1, plain(func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil,
		func(x, y float64) float64 { return 1 / ((1 + math.Abs(x)) * (1 + math.Abs(x))) })},
	"Sin":   {7, plain(math.Sin, nil, func(x, y float64) float64 { return math.Cos(x) })},
	"Cos":   {7, plain(math.Cos, nil, func(x, y float64) float64 { return -math.Sin(x) })},
	"Tan":   {7, plain(math.Tan, nil, func(x, y float64) float64 { return 1 + y*y })},
	"Asin":  {7, plain(math.Asin, nil, nil)},
	"Acos":  {7, plain(math.Acos, nil, nil)},
	"Atan":  {7, plain(math.Atan, nil, nil)},
	"Sinh":  {9, plain(math.Sinh, nil, nil)},
	"Cosh":  {9, plain(math.Cosh, nil, nil)},
	"Asinh": {9, plain(math.Asinh, nil, nil)},
	"Acosh": {9, plain(math.Acosh, nil, nil)},
	"Atanh": {9, plain(math.Atanh, nil, nil)},
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // 0, -0 or NaN
}

// step is the derivative of Relu: 1 for x > 0, else 0.
func step(x float64) float64 {
	if x > 0 {
		return 1
	}
	return 0
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// applyUnary computes fns on every element of t, keeping its type. With
// inPlace, a float32 result is written over t's data (see
// Context.Reusable), else into a buffer from ctx (which may be nil).
func applyUnary(ctx *Context, t *graph.Tensor, fns unaryFns, inPlace bool) (*graph.Tensor, error) {
	switch src := t.Data.(type) {
	case []float32:
		dst := src
		if !inPlace {
			dst = ctx.RawFloat32s(len(src)) // every element is written below
		}
		if fns.v32 != nil {
			ParallelFor(len(src), 1<<15, func(lo, hi int) { fns.v32(dst[lo:hi], src[lo:hi]) })
			return out(t.DType, t.Shape, dst), nil
		}
		ParallelFor(len(src), 1<<14, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dst[i] = float32(fns.f(float64(src[i])))
			}
		})
		return out(t.DType, t.Shape, dst), nil
	case []float64:
		dst := make([]float64, len(src))
		for i, x := range src {
			dst[i] = fns.f(x)
		}
		return out(t.DType, t.Shape, dst), nil
	}
	if isHalf(t.DType) {
		w, err := widenHalf(t)
		if err != nil {
			return nil, err
		}
		r, err := applyUnary(nil, w, fns, true)
		if err != nil {
			return nil, err
		}
		return narrowHalf(r, t.DType), nil
	}
	if t.DType.IsInteger() && fns.i != nil {
		v, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		dst := make([]int64, len(v))
		for i, x := range v {
			dst[i] = fns.i(x)
		}
		return castInts(dst, t.Shape, t.DType)
	}
	return nil, fmt.Errorf("not defined on %s", t.DType)
}

// unaryKernel is the forward kernel of a table entry.
func unaryKernel(def unaryDef) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		return oneErr(applyUnary(ctx, in[0], def.fns(ctx.Node), ctx.Reusable(0)))
	}
}

// unaryGrad is dx = dy * f'(x).
func unaryGrad(def unaryDef) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		if dout[0] == nil || !in[0].DType.IsFloat() {
			return []*graph.Tensor{nil}, nil
		}
		d := def.fns(ctx.Node).d
		if d == nil {
			return nil, fmt.Errorf("%s has no gradient with these attributes", ctx.Node.OpType)
		}
		x, err := in[0].Float32s()
		if err != nil {
			return nil, err
		}
		y, err := outs[0].Float32s()
		if err != nil {
			return nil, err
		}
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(x))
		for i := range dx {
			dx[i] = g[i] * float32(d(float64(x[i]), float64(y[i])))
		}
		return []*graph.Tensor{f32out(in[0].Shape, dx)}, nil
	}
}

// registerUnary registers every entry of a unary table.
func registerUnary(table map[string]unaryDef) {
	for name, def := range table {
		op := &Op{Type: name, MinOpset: def.min, Forward: unaryKernel(def)}
		if def.fns(&graph.Node{}).d != nil {
			op.Backward = unaryGrad(def)
		}
		Register(op)
	}
}

func init() { registerUnary(unaryOps) }
