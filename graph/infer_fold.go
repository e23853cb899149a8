package graph

import (
	"math"
)

// foldRule computes the value of a node's first output from known input
// values, given the output type its inference rule found; nil when the
// value cannot be known.
type foldRule func(c *inferCtx, out typeInfo) (*constVal, error)

// foldRules are the ops whose values InferShapes computes: the ones that
// shape computations in exported models are made of.
var foldRules = map[string]foldRule{
	"Constant":        foldConstant,
	"Shape":           foldShape,
	"Size":            foldNumel,
	"Identity":        foldReshaped,
	"Reshape":         foldReshaped,
	"Flatten":         foldReshaped,
	"Squeeze":         foldReshaped,
	"Unsqueeze":       foldReshaped,
	"Gather":          foldGather,
	"Concat":          foldConcat,
	"Slice":           foldSlice,
	"Cast":            foldCast,
	"CastLike":        foldCast,
	"Expand":          foldExpand,
	"Range":           foldRange,
	"ConstantOfShape": foldConstantOfShape,
	"Where":           foldWhere,
	"Add":             foldBinary(addDim, func(a, b float64) float64 { return a + b }, false),
	"Sub":             foldBinary(subDim, func(a, b float64) float64 { return a - b }, false),
	"Mul":             foldBinary(mulDim, func(a, b float64) float64 { return a * b }, false),
	"Div":             foldBinary(divDim, func(a, b float64) float64 { return a / b }, false),
	"Mod":             foldBinary(modDim, math.Mod, false),
	"Max":             foldBinary(knownOp(func(a, b int64) int64 { return max(a, b) }), math.Max, false),
	"Min":             foldBinary(knownOp(func(a, b int64) int64 { return min(a, b) }), math.Min, false),
	"Equal":           foldBinary(equalDim, cmpFloat(func(a, b float64) bool { return a == b }), true),
	"Less":            foldBinary(knownCmp(func(a, b int64) bool { return a < b }), cmpFloat(func(a, b float64) bool { return a < b }), true),
	"Greater":         foldBinary(knownCmp(func(a, b int64) bool { return a > b }), cmpFloat(func(a, b float64) bool { return a > b }), true),
	"LessOrEqual":     foldBinary(knownCmp(func(a, b int64) bool { return a <= b }), cmpFloat(func(a, b float64) bool { return a <= b }), true),
	"GreaterOrEqual":  foldBinary(knownCmp(func(a, b int64) bool { return a >= b }), cmpFloat(func(a, b float64) bool { return a >= b }), true),
	"And":             foldBinary(knownOp(func(a, b int64) int64 { return boolInt(a != 0 && b != 0) }), nil, true),
	"Or":              foldBinary(knownOp(func(a, b int64) int64 { return boolInt(a != 0 || b != 0) }), nil, true),
	"Neg":             foldUnary(knownUnary(func(a int64) int64 { return -a }), func(a float64) float64 { return -a }),
	"Abs":             foldUnary(knownUnary(func(a int64) int64 { return max(a, -a) }), math.Abs),
	"Not":             foldUnary(knownUnary(func(a int64) int64 { return 1 - a }), nil),
	"Relu":            foldUnary(knownUnary(func(a int64) int64 { return max(a, 0) }), func(a float64) float64 { return max(a, 0) }),
	"Floor":           foldUnary(nil, math.Floor),
	"Ceil":            foldUnary(nil, math.Ceil),
	"Round":           foldUnary(nil, math.RoundToEven),
	"Sqrt":            foldUnary(nil, math.Sqrt),
}

// foldShape gives the (possibly symbolic) dims of the input.
func foldShape(c *inferCtx, out typeInfo) (*constVal, error) {
	lo, hi, ok := shapeRange(c)
	if !ok {
		return nil, nil
	}
	cv := newConst(Int64, []int64{int64(hi - lo)})
	copy(cv.ints, c.arg(0).dims[lo:hi])
	return cv, nil
}

func foldNumel(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.arg(0)
	if !x.ranked {
		return nil, nil
	}
	cv := newConst(Int64, nil)
	cv.ints[0] = dimProduct(x.dims)
	return cv, nil
}

// foldReshaped serves the ops that only change a value's shape.
func foldReshaped(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.value(0)
	shape, ok := out.static()
	if x == nil || !ok {
		return nil, nil
	}
	idx := make([]int, x.len())
	for i := range idx {
		idx[i] = i
	}
	return x.pick(shape, idx), nil
}

func foldGather(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.value(0)
	ind := c.value(1)
	if x == nil || ind == nil {
		return nil, nil
	}
	is, ok := ind.knownInts()
	if !ok {
		return nil, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(x.shape))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	outer, inner := elemCount(x.shape[:axis]), elemCount(x.shape[axis+1:])
	n := x.shape[axis]
	if _, ok := foldSize([]int64{int64(outer), int64(len(is)), int64(inner)}); !ok {
		return nil, nil
	}
	var idx []int
	for o := 0; o < outer; o++ {
		for _, i := range is {
			if i < -n || i >= n {
				return nil, c.errorf("index %d is out of range for a dimension of size %d", i, n)
			}
			if i < 0 {
				i += n
			}
			for k := 0; k < inner; k++ {
				idx = append(idx, (o*int(n)+int(i))*inner+k)
			}
		}
	}
	shape := append(append(append([]int64{}, x.shape[:axis]...), ind.shape...), x.shape[axis+1:]...)
	return x.pick(shape, idx), nil
}

func elemCount(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

func foldConcat(c *inferCtx, out typeInfo) (*constVal, error) {
	shape, ok := out.static()
	if !ok || len(c.n.Inputs) == 0 {
		return nil, nil
	}
	valueList := make([]*constVal, len(c.n.Inputs))
	for i := range valueList {
		if valueList[i] = c.value(i); valueList[i] == nil || len(valueList[i].shape) != len(shape) {
			return nil, nil
		}
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(shape))
	if err != nil {
		return nil, nil
	}
	res := newConst(valueList[0].dt, shape)
	if res == nil {
		return nil, nil
	}
	outer := elemCount(shape[:axis])
	k := 0
	for o := 0; o < outer; o++ {
		for _, v := range valueList {
			chunk := v.len() / max(outer, 1)
			for j := o * chunk; j < (o+1)*chunk; j++ {
				if res.ints != nil && v.ints != nil {
					res.ints[k] = v.ints[j]
				} else if res.floats != nil && v.floats != nil {
					res.floats[k] = v.floats[j]
				} else {
					return nil, nil
				}
				k++
			}
		}
	}
	return res, nil
}

func foldSlice(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.value(0)
	shape, ok := out.static()
	if x == nil || !ok {
		return nil, nil
	}
	plan, ok, err := slicePlan(c, staticDims(x.shape...))
	if !ok || err != nil {
		return nil, err
	}
	// Walk the output coordinates; input coordinate = start + i*step.
	n, ok := foldSize(shape)
	if !ok {
		return nil, nil
	}
	idx := make([]int, n)
	coord := make([]int, len(shape))
	strides := make([]int, len(x.shape))
	s := 1
	for i := len(x.shape) - 1; i >= 0; i-- {
		strides[i] = s
		s *= int(x.shape[i])
	}
	for k := range idx {
		src := 0
		for i, ci := range coord {
			src += (int(plan[i].start) + ci*int(plan[i].step)) * strides[i]
		}
		idx[k] = src
		for i := len(coord) - 1; i >= 0; i-- {
			coord[i]++
			if coord[i] < int(shape[i]) {
				break
			}
			coord[i] = 0
		}
	}
	return x.pick(shape, idx), nil
}

func foldCast(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.value(0)
	if x == nil || out.dt == Undefined {
		return nil, nil
	}
	return castConst(x, out.dt), nil
}

func foldExpand(c *inferCtx, out typeInfo) (*constVal, error) {
	x := c.value(0)
	shape, ok := out.static()
	if x == nil || !ok {
		return nil, nil
	}
	if _, ok := foldSize(shape); !ok {
		return nil, nil
	}
	return x.pick(shape, bcastIndex(shape, x.shape)), nil
}

func foldRange(c *inferCtx, out typeInfo) (*constVal, error) {
	shape, ok := out.static()
	if !ok {
		return nil, nil
	}
	start, ok1 := c.floats(0)
	delta, ok2 := c.floats(2)
	res := newConst(out.dt, shape)
	if !ok1 || !ok2 || res == nil || len(start) != 1 || len(delta) != 1 {
		return nil, nil
	}
	for i := 0; i < res.len(); i++ {
		v := start[0] + float64(i)*delta[0]
		if res.ints != nil {
			res.ints[i] = knownDim(int64(v))
		} else {
			res.floats[i] = roundFloat(v, out.dt)
		}
	}
	return res, nil
}

func foldConstantOfShape(c *inferCtx, out typeInfo) (*constVal, error) {
	shape, ok := out.static()
	if !ok {
		return nil, nil
	}
	n, ok := foldSize(shape)
	if !ok {
		return nil, nil
	}
	fill := constFromTensor(MustTensor(Float, []int64{1}, []float32{0}))
	if t, err := c.n.AttrTensor("value"); err != nil {
		return nil, c.errorf("%v", err)
	} else if t != nil {
		if fill = constFromTensor(t); fill == nil || fill.len() != 1 {
			return nil, nil
		}
	}
	return fill.pick(shape, make([]int, n)), nil
}

func foldConstant(c *inferCtx, out typeInfo) (*constVal, error) {
	t, err := constantTensor(c)
	if err != nil || t == nil {
		return nil, err
	}
	return constFromTensor(t), nil
}

func foldWhere(c *inferCtx, out typeInfo) (*constVal, error) {
	cond, x, y := c.value(0), c.value(1), c.value(2)
	shape, ok := out.static()
	if cond == nil || x == nil || y == nil || !ok || cond.ints == nil {
		return nil, nil
	}
	res := newConst(x.dt, shape)
	if res == nil || (x.ints == nil) != (y.ints == nil) {
		return nil, nil
	}
	ci, xi, yi := bcastIndex(shape, cond.shape), bcastIndex(shape, x.shape), bcastIndex(shape, y.shape)
	for k := range ci {
		cd := cond.ints[ci[k]]
		switch {
		case res.ints != nil && !cd.ok:
			res.ints[k] = unknownDim
		case res.ints != nil && cd.n != 0:
			res.ints[k] = x.ints[xi[k]]
		case res.ints != nil:
			res.ints[k] = y.ints[yi[k]]
		case !cd.ok:
			res.floats[k] = math.NaN()
		case cd.n != 0:
			res.floats[k] = x.floats[xi[k]]
		default:
			res.floats[k] = y.floats[yi[k]]
		}
	}
	return res, nil
}

// foldBinary computes an elementwise op of two values of one type class
// (integer ops on symDims, float ops on float64). cmp ops give Bool.
func foldBinary(fi func(a, b symDim) symDim, ff func(a, b float64) float64, cmp bool) foldRule {
	return func(c *inferCtx, out typeInfo) (*constVal, error) {
		if len(c.n.Inputs) != 2 {
			return nil, nil
		}
		a, b := c.value(0), c.value(1)
		shape, ok := out.static()
		if a == nil || b == nil || !ok || (a.ints == nil) != (b.ints == nil) {
			return nil, nil
		}
		dt := a.dt
		if cmp {
			dt = Bool
		}
		res := newConst(dt, shape)
		if res == nil || (a.ints == nil && ff == nil) || (a.ints != nil && fi == nil) {
			return nil, nil
		}
		ai, bi := bcastIndex(shape, a.shape), bcastIndex(shape, b.shape)
		for k := range ai {
			switch {
			case a.ints != nil:
				res.ints[k] = fi(a.ints[ai[k]], b.ints[bi[k]])
			case cmp:
				f := ff(a.floats[ai[k]], b.floats[bi[k]])
				if res.ints[k] = unknownDim; !math.IsNaN(f) {
					res.ints[k] = knownDim(int64(f))
				}
			default:
				res.floats[k] = roundFloat(ff(a.floats[ai[k]], b.floats[bi[k]]), dt)
			}
		}
		return res, nil
	}
}

func foldUnary(fi func(a symDim) symDim, ff func(a float64) float64) foldRule {
	return func(c *inferCtx, out typeInfo) (*constVal, error) {
		x := c.value(0)
		if x == nil || (x.ints != nil && fi == nil) || (x.ints == nil && ff == nil) {
			return nil, nil
		}
		res := newConst(x.dt, x.shape)
		if res == nil {
			return nil, nil
		}
		for k := 0; k < x.len(); k++ {
			if x.ints != nil {
				res.ints[k] = fi(x.ints[k])
			} else {
				res.floats[k] = roundFloat(ff(x.floats[k]), x.dt)
			}
		}
		return res, nil
	}
}

func knownOp(f func(a, b int64) int64) func(a, b symDim) symDim {
	return func(a, b symDim) symDim {
		if a.ok && b.ok {
			return knownDim(f(a.n, b.n))
		}
		return unknownDim
	}
}

func knownCmp(f func(a, b int64) bool) func(a, b symDim) symDim {
	return knownOp(func(a, b int64) int64 { return boolInt(f(a, b)) })
}

func knownUnary(f func(a int64) int64) func(a symDim) symDim {
	return func(a symDim) symDim {
		if a.ok {
			return knownDim(f(a.n))
		}
		return unknownDim
	}
}

// cmpFloat turns a float comparison into an op giving 1, 0 or NaN.
func cmpFloat(f func(a, b float64) bool) func(a, b float64) float64 {
	return func(a, b float64) float64 {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return float64(boolInt(f(a, b)))
	}
}

// The integer ops keep a symbolic operand where the other is the identity.
func addDim(a, b symDim) symDim {
	switch {
	case b.is(0):
		return a
	case a.is(0):
		return b
	}
	return knownOp(func(x, y int64) int64 { return x + y })(a, b)
}

func subDim(a, b symDim) symDim {
	if b.is(0) {
		return a
	}
	return knownOp(func(x, y int64) int64 { return x - y })(a, b)
}

func mulDim(a, b symDim) symDim {
	switch {
	case b.is(1):
		return a
	case a.is(1):
		return b
	case a.is(0) || b.is(0):
		return knownDim(0)
	}
	return knownOp(func(x, y int64) int64 { return x * y })(a, b)
}

// divDim truncates toward zero, as ONNX Runtime's integer Div does.
func divDim(a, b symDim) symDim {
	switch {
	case b.is(1):
		return a
	case a.ok && b.ok && b.n != 0:
		return knownDim(a.n / b.n)
	}
	return unknownDim
}

// modDim gives the result the divisor's sign (Mod with fmod=0).
func modDim(a, b symDim) symDim {
	if !a.ok || !b.ok || b.n == 0 {
		return unknownDim
	}
	r := a.n % b.n
	if r != 0 && (r < 0) != (b.n < 0) {
		r += b.n
	}
	return knownDim(r)
}

// equalDim also knows that a symbol equals itself.
func equalDim(a, b symDim) symDim {
	if !a.ok && !b.ok && a.sym != "" && a.sym == b.sym {
		return knownDim(1)
	}
	return knownCmp(func(x, y int64) bool { return x == y })(a, b)
}
