package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// reduceDef is one reduction: f folds the values of one output element
// (in float64); d is the derivative of the output with respect to one
// input value x given the output y and the count n (nil: no gradient,
// extremum: the gradient goes to the first value equal to the output);
// ints tells whether integer inputs are accepted; axesInput is the first
// opset that takes axes as an input instead of an attribute.
type reduceDef struct {
	f         func(v []float64) float64
	d         func(x, y float64, n int) float64
	extremum  bool
	ints      bool
	axesInput int64
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// reduceOps is the table of Reduce* operators.
var reduceOps = map[string]reduceDef{
	"ReduceSum": {f: sum, d: func(x, y float64, n int) float64 { return 1 }, ints: true, axesInput: 13},
	"ReduceMean": {f: func(v []float64) float64 { return sum(v) / float64(len(v)) },
		d: func(x, y float64, n int) float64 { return 1 / float64(n) }, ints: true, axesInput: 18},
	"ReduceMax": {f: func(v []float64) float64 {
		m := math.Inf(-1)
		for _, x := range v {
			if x > m || x != x {
				m = x
			}
		}
		return m
	}, extremum: true, ints: true, axesInput: 18},
	"ReduceMin": {f: func(v []float64) float64 {
		m := math.Inf(1)
		for _, x := range v {
			if x < m || x != x {
				m = x
			}
		}
		return m
	}, extremum: true, ints: true, axesInput: 18},
	"ReduceProd": {f: func(v []float64) float64 {
		p := 1.0
		for _, x := range v {
			p *= x
		}
		return p
	}, ints: true, axesInput: 18},
	"ReduceL1": {f: func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += math.Abs(x)
		}
		return s
	}, d: func(x, y float64, n int) float64 { return sign(x) }, ints: true, axesInput: 18},
	"ReduceL2": {f: func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s)
	}, d: func(x, y float64, n int) float64 { return x / y }, ints: true, axesInput: 18},
	"ReduceSumSquare": {f: func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x * x
		}
		return s
	}, d: func(x, y float64, n int) float64 { return 2 * x }, ints: true, axesInput: 18},
	"ReduceLogSum": {f: func(v []float64) float64 { return math.Log(sum(v)) },
		d: func(x, y float64, n int) float64 { return math.Exp(-y) }, axesInput: 18},
	"ReduceLogSumExp": {f: func(v []float64) float64 {
		m := math.Inf(-1)
		for _, x := range v {
			m = math.Max(m, x)
		}
		if math.IsInf(m, 0) {
			return m
		}
		var s float64
		for _, x := range v {
			s += math.Exp(x - m)
		}
		return m + math.Log(s)
	}, d: func(x, y float64, n int) float64 { return math.Exp(x - y) }, axesInput: 18},
}

// reducePlan maps a reduction of shape over axes: base[k] is the offset
// of output element k's first input, roff the offsets of the reduced
// elements relative to it.
type reducePlan struct {
	outShape []int64 // with keepdims
	keptDims []int64 // without
	base     []int
	roff     []int
}

func newReducePlan(shape []int64, axes []int) *reducePlan {
	red := make([]bool, len(shape))
	for _, a := range axes {
		red[a] = true
	}
	st := Strides(shape)
	p := &reducePlan{base: []int{0}, roff: []int{0}}
	for d, n := range shape {
		if red[d] {
			p.outShape = append(p.outShape, 1)
			p.roff = expandOffsets(p.roff, int(n), st[d])
		} else {
			p.outShape = append(p.outShape, n)
			p.keptDims = append(p.keptDims, n)
			p.base = expandOffsets(p.base, int(n), st[d])
		}
	}
	return p
}

// expandOffsets returns offs × {0, stride, ..., (n-1)*stride}, row-major.
func expandOffsets(offs []int, n, stride int) []int {
	out := make([]int, 0, len(offs)*n)
	for _, o := range offs {
		for i := 0; i < n; i++ {
			out = append(out, o+i*stride)
		}
	}
	return out
}

// reduceAxes reads a reduction's axes: the attribute before
// def.axesInput, input 1 from it. It returns nil axes to mean "all" and
// noop=true when an empty axes list must leave the input unchanged.
func reduceAxes(ctx *Context, in []*graph.Tensor, def reduceDef, rank int) (axes []int, noop bool, err error) {
	var raw []int64
	if ctx.Opset < def.axesInput {
		raw = ctx.Node.AttrInts("axes", nil)
	} else if t := optIn(in, 1); t != nil {
		if raw, err = TensorInts(t, "axes"); err != nil {
			return nil, false, err
		}
	}
	if len(raw) == 0 {
		if ctx.Opset >= def.axesInput && ctx.Node.AttrInt("noop_with_empty_axes", 0) != 0 {
			return nil, true, nil
		}
		axes = make([]int, rank)
		for i := range axes {
			axes[i] = i
		}
		return axes, false, nil
	}
	axes, err = NormAxes(raw, rank)
	return axes, false, err
}

func reduceKernel(def reduceDef) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		axes, noop, err := reduceAxes(ctx, in, def, x.Rank())
		if err != nil {
			return nil, err
		}
		if noop {
			return one(reshaped(x, x.Shape))
		}
		if x.DType.IsInteger() && !def.ints {
			return nil, fmt.Errorf("not defined on %s", x.DType)
		}
		v, err := toFloat64s(x)
		if err != nil {
			return nil, err
		}
		p := newReducePlan(x.Shape, axes)
		res := make([]float64, len(p.base))
		ParallelFor(len(p.base), max(1, 8192/max(len(p.roff), 1)), func(lo, hi int) {
			buf := make([]float64, len(p.roff))
			for k := lo; k < hi; k++ {
				for r, o := range p.roff {
					buf[r] = v[p.base[k]+o]
				}
				res[k] = def.f(buf)
			}
		})
		shape := p.outShape
		if ctx.Node.AttrInt("keepdims", 1) == 0 {
			shape = p.keptDims
		}
		return oneErr(castFloats(res, shape, x.DType, true))
	}
}

// reduceGrad spreads the output gradient back over the reduced elements.
func reduceGrad(def reduceDef) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		grads := make([]*graph.Tensor, len(in))
		if dout[0] == nil || !isFloatTensor(in[0]) {
			return grads, nil
		}
		x := in[0]
		axes, noop, err := reduceAxes(ctx, in, def, x.Rank())
		if err != nil {
			return nil, err
		}
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		if noop {
			grads[0] = f32out(x.Shape, g)
			return grads, nil
		}
		xv, err := x.Float32s()
		if err != nil {
			return nil, err
		}
		y, err := outs[0].Float32s()
		if err != nil {
			return nil, err
		}
		p := newReducePlan(x.Shape, axes)
		dx := make([]float32, len(xv))
		n := len(p.roff)
		for k, b := range p.base {
			if def.extremum {
				for _, o := range p.roff {
					if xv[b+o] == y[k] {
						dx[b+o] = g[k]
						break
					}
				}
				continue
			}
			for _, o := range p.roff {
				dx[b+o] = g[k] * float32(def.d(float64(xv[b+o]), float64(y[k]), n))
			}
		}
		grads[0] = f32out(x.Shape, dx)
		return grads, nil
	}
}

// argKernel is ArgMax / ArgMin: int64 indices along axis (default 0), the
// first occurrence unless select_last_index.
func argKernel(isMax bool) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		ax, err := NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank())
		if err != nil {
			return nil, err
		}
		v, err := toFloat64s(x)
		if err != nil {
			return nil, err
		}
		last := ctx.Node.AttrInt("select_last_index", 0) != 0
		p := newReducePlan(x.Shape, []int{ax})
		res := make([]int64, len(p.base))
		for k, b := range p.base {
			best := 0
			for r := 1; r < len(p.roff); r++ {
				a, c := v[b+p.roff[r]], v[b+p.roff[best]]
				better := a > c
				if !isMax {
					better = a < c
				}
				if better || last && a == c {
					best = r
				}
			}
			res[k] = int64(best)
		}
		shape := p.outShape
		if ctx.Node.AttrInt("keepdims", 1) == 0 {
			shape = p.keptDims
		}
		return one(out(graph.Int64, shape, res))
	}
}

func init() {
	for name, def := range reduceOps {
		ranges := [][2]int64{{1, def.axesInput - 1}, {def.axesInput, 0}}
		for _, r := range ranges {
			op := &Op{Type: name, MinOpset: r[0], MaxOpset: r[1], Forward: reduceKernel(def)}
			if def.d != nil || def.extremum {
				op.Backward = reduceGrad(def)
			}
			Register(op)
		}
	}
	Register(&Op{Type: "ArgMax", MinOpset: 1, Forward: argKernel(true)})
	Register(&Op{Type: "ArgMin", MinOpset: 1, Forward: argKernel(false)})
}
