package graph

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Rules of the ops that reshape, build or describe tensors.
func init() {
	addRules(reshapeRule, "Reshape")
	addRules(flattenRule, "Flatten")
	addRules(transposeRule, "Transpose")
	addRules(squeezeRule, "Squeeze")
	addRules(unsqueezeRule, "Unsqueeze")
	addRules(expandRule, "Expand")
	addRules(tileRule, "Tile")
	addRules(shapeRule, "Shape")
	addRules(func(c *inferCtx) ([]typeInfo, error) { return []typeInfo{ranked(Int64, nil)}, nil }, "Size")
	addRules(constantOfShapeRule, "ConstantOfShape")
	addRules(constantRule, "Constant")
	addRules(castRule, "Cast")
	addRules(func(c *inferCtx) ([]typeInfo, error) {
		t := c.arg(0)
		t.dt = c.arg(1).dt
		return []typeInfo{t}, nil
	}, "CastLike")
	addRules(rangeRule, "Range")
}

// reshapeRule: the target's 0 copies the input dim (unless allowzero, from
// opset 14) and one -1 takes the remaining elements. The element counts
// must agree.
func reshapeRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	var target []symDim
	if c.opset < 5 {
		for _, v := range c.n.AttrInts("shape", nil) {
			target = append(target, knownDim(v))
		}
	} else if t, ok := c.elems(1); ok {
		target = t
	} else {
		if s := c.arg(1); s.ranked && len(s.dims) == 1 && s.dims[0].ok {
			if dims, ok := unknownDims(s.dims[0].n); ok {
				return []typeInfo{ranked(x.dt, dims)}, nil
			}
		}
		return []typeInfo{unranked(x.dt)}, nil
	}
	allowZero := c.opset >= 14 && c.n.AttrInt("allowzero", 0) != 0
	out := make([]symDim, len(target))
	infer := -1
	for i, t := range target {
		switch {
		case !t.ok:
			out[i] = t
		case t.n == -1:
			if infer >= 0 {
				return nil, c.errorf("shape %s has more than one -1", fmtSymDims(target))
			}
			infer = i
		case t.n == 0 && !allowZero:
			if x.ranked {
				if i >= len(x.dims) {
					return nil, c.errorf("shape %s copies dim %d of an input of rank %d", fmtSymDims(target), i, len(x.dims))
				}
				out[i] = x.dims[i]
			}
		case t.n < 0:
			return nil, c.errorf("shape %s has the invalid value %d", fmtSymDims(target), t.n)
		default:
			out[i] = t
		}
	}
	if !x.ranked {
		return []typeInfo{ranked(x.dt, out)}, nil
	}
	in := factorize(x.dims)
	rest := make([]symDim, 0, len(out))
	for i, d := range out {
		if i != infer {
			rest = append(rest, d)
		}
	}
	have := factorize(rest)
	if infer >= 0 {
		d, err := have.quotient(in)
		if err != nil {
			return nil, c.errorf("cannot reshape %s to %s: %v", fmtSymDims(x.dims), fmtSymDims(target), err)
		}
		out[infer] = d
	} else if in.comparable(have) && in.known != have.known {
		return nil, c.errorf("cannot reshape %s (%d elements) to %s (%d elements)", fmtSymDims(x.dims), in.known, fmtSymDims(out), have.known)
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// factors describes a product of dims: the product of the known ones, the
// symbolic names (a multiset), and whether some dim is unknown and
// anonymous.
type factors struct {
	known   int64
	syms    map[string]int
	unknown bool
}

func factorize(ds []symDim) factors {
	f := factors{known: 1, syms: map[string]int{}}
	for _, d := range ds {
		switch {
		case d.ok:
			f.known *= d.n
		case d.sym != "":
			f.syms[d.sym]++
		default:
			f.unknown = true
		}
	}
	return f
}

// comparable reports whether both products are known up to the same
// symbols, so that their known parts must be equal.
func (f factors) comparable(g factors) bool {
	if f.unknown || g.unknown || len(f.syms) != len(g.syms) {
		return false
	}
	for s, n := range f.syms {
		if g.syms[s] != n {
			return false
		}
	}
	return true
}

// quotient returns the dim d with f*d = total, when it can be known.
func (f factors) quotient(total factors) (symDim, error) {
	if f.unknown || total.unknown {
		return unknownDim, nil
	}
	left := map[string]int{}
	for s, n := range total.syms {
		left[s] = n
	}
	for s, n := range f.syms {
		if left[s] < n {
			return unknownDim, nil
		}
		left[s] -= n
	}
	var syms []string
	for s, n := range left {
		for ; n > 0; n-- {
			syms = append(syms, s)
		}
	}
	switch {
	case f.known == 0:
		return unknownDim, nil // 0 * d: d cannot be known
	case len(syms) == 0:
		if total.known%f.known != 0 {
			return unknownDim, fmt.Errorf("%d elements do not divide into parts of %d", total.known, f.known)
		}
		return knownDim(total.known / f.known), nil
	case len(syms) == 1 && total.known == f.known:
		return symDim{sym: syms[0]}, nil
	}
	return unknownDim, nil
}

// flattenRule: [prod(dims[:axis]), prod(dims[axis:])].
func flattenRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{ranked(x.dt, []symDim{unknownDim, unknownDim})}, nil
	}
	r := len(x.dims)
	axis := c.n.AttrInt("axis", 1)
	if axis < -int64(r) || axis > int64(r) {
		return nil, c.errorf("axis %d is out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += int64(r)
	}
	return []typeInfo{ranked(x.dt, []symDim{dimProduct(x.dims[:axis]), dimProduct(x.dims[axis:])})}, nil
}

// transposeRule permutes the dims by perm (reversed by default).
func transposeRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	r := len(x.dims)
	perm := c.n.AttrInts("perm", nil)
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != r {
		return nil, c.errorf("perm %v has %d entries for an input of rank %d", perm, len(perm), r)
	}
	seen := make([]bool, r)
	out := make([]symDim, r)
	for i, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, c.errorf("perm %v is not a permutation of the input's %d dims", perm, r)
		}
		seen[p] = true
		out[i] = x.dims[p]
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// squeezeRule removes the given axes (all dims of size 1 by default); the
// axes are an attribute before opset 13 and an input from it.
func squeezeRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	axes, given, known := c.intsParam("axes", 1, 13)
	if !x.ranked {
		return []typeInfo{unranked(x.dt)}, nil
	}
	if !known {
		if s := c.arg(1); s.ranked && len(s.dims) == 1 && s.dims[0].ok && int(s.dims[0].n) <= len(x.dims) {
			return []typeInfo{ranked(x.dt, make([]symDim, len(x.dims)-int(s.dims[0].n)))}, nil
		}
		return []typeInfo{unranked(x.dt)}, nil
	}
	drop := make([]bool, len(x.dims))
	if !given {
		for i, d := range x.dims {
			if !d.ok {
				return []typeInfo{unranked(x.dt)}, nil // might be 1
			}
			drop[i] = d.n == 1
		}
	}
	for _, a := range axes {
		i, err := axisIndex(a, len(x.dims))
		if err != nil {
			return nil, c.errorf("axes %v: %v", axes, err)
		}
		if d := x.dims[i]; d.ok && d.n != 1 {
			return nil, c.errorf("cannot squeeze dim %d of size %d in %s", i, d.n, fmtSymDims(x.dims))
		}
		drop[i] = true
	}
	out := []symDim{}
	for i, d := range x.dims {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// unsqueezeRule inserts dims of 1 at the given axes of the output.
func unsqueezeRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	axes, given, known := c.intsParam("axes", 1, 13)
	if !given {
		return nil, c.errorf("axes are required")
	}
	if !x.ranked || !known {
		return []typeInfo{unranked(x.dt)}, nil
	}
	r := len(x.dims) + len(axes)
	ones := make([]bool, r)
	for _, a := range axes {
		i, err := axisIndex(a, r)
		if err != nil {
			return nil, c.errorf("axes %v: %v", axes, err)
		}
		if ones[i] {
			return nil, c.errorf("axes %v repeat axis %d", axes, i)
		}
		ones[i] = true
	}
	out := make([]symDim, r)
	j := 0
	for i := range out {
		if ones[i] {
			out[i] = knownDim(1)
		} else {
			out[i] = x.dims[j]
			j++
		}
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// expandRule broadcasts the input with the shape given as input 1.
func expandRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	shape, ok := c.elems(1)
	if !ok {
		if s := c.arg(1); s.ranked && len(s.dims) == 1 && s.dims[0].ok && x.ranked {
			if dims, ok := unknownDims(max(int64(len(x.dims)), s.dims[0].n)); ok {
				return []typeInfo{ranked(x.dt, dims)}, nil
			}
		}
		return []typeInfo{unranked(x.dt)}, nil
	}
	if !x.ranked {
		return []typeInfo{unranked(x.dt)}, nil
	}
	out, err := broadcastDims(x.dims, shape)
	if err != nil {
		return nil, c.errorf("cannot expand %s to %s: %v", fmtSymDims(x.dims), fmtSymDims(shape), err)
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// tileRule multiplies each dim by its repeat count (input 1).
func tileRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	reps, ok := c.ints(1)
	if !ok {
		return []typeInfo{ranked(x.dt, make([]symDim, len(x.dims)))}, nil
	}
	if len(reps) != len(x.dims) {
		return nil, c.errorf("repeats has %d values for an input of rank %d", len(reps), len(x.dims))
	}
	out := make([]symDim, len(x.dims))
	for i, d := range x.dims {
		switch {
		case reps[i] < 0:
			return nil, c.errorf("repeats %v must not be negative", reps)
		case reps[i] == 1:
			out[i] = d
		default:
			out[i] = scaleDim(d, reps[i], 1)
		}
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// shapeRange returns the dims [lo, hi) of the input that Shape returns
// (start and end attributes from opset 15).
func shapeRange(c *inferCtx) (lo, hi int, ok bool) {
	x := c.arg(0)
	if !x.ranked {
		return 0, 0, false
	}
	r := int64(len(x.dims))
	clamp := func(v int64) int {
		if v < 0 {
			v += r
		}
		return int(min(max(v, 0), r))
	}
	lo, hi = 0, int(r)
	if c.opset >= 15 {
		lo = clamp(c.n.AttrInt("start", 0))
		hi = clamp(c.n.AttrInt("end", r))
	}
	return lo, max(lo, hi), true
}

func shapeRule(c *inferCtx) ([]typeInfo, error) {
	lo, hi, ok := shapeRange(c)
	if !ok {
		return []typeInfo{ranked(Int64, []symDim{unknownDim})}, nil
	}
	return []typeInfo{ranked(Int64, []symDim{knownDim(int64(hi - lo))})}, nil
}

// constantOfShapeRule: the dims are input 0's values; the element type is
// the value attribute's (float by default).
func constantOfShapeRule(c *inferCtx) ([]typeInfo, error) {
	dt := Float
	if a := c.n.Attr("value"); a != nil && a.GetT() != nil {
		dt = DType(a.GetT().GetDataType())
	}
	shape, ok := c.elems(0)
	if !ok {
		if s := c.arg(0); s.ranked && len(s.dims) == 1 && s.dims[0].ok {
			if dims, ok := unknownDims(s.dims[0].n); ok {
				return []typeInfo{ranked(dt, dims)}, nil
			}
		}
		return []typeInfo{unranked(dt)}, nil
	}
	for _, d := range shape {
		if d.ok && d.n < 0 {
			return nil, c.errorf("shape %s has a negative dim", fmtSymDims(shape))
		}
	}
	return []typeInfo{ranked(dt, copyDims(shape))}, nil
}

// constantTensor decodes a Constant node's value when it is numeric (nil
// for strings and sparse values).
func constantTensor(c *inferCtx) (*Tensor, error) {
	n := c.n
	switch {
	case n.HasAttr("value"):
		t, err := n.AttrTensor("value")
		if err != nil {
			return nil, c.errorf("%v", err)
		}
		return t, nil
	case n.HasAttr("value_float"):
		return MustTensor(Float, nil, []float32{n.AttrFloat("value_float", 0)}), nil
	case n.HasAttr("value_floats"):
		f := append([]float32{}, n.AttrFloats("value_floats", nil)...)
		return MustTensor(Float, []int64{int64(len(f))}, f), nil
	case n.HasAttr("value_int"):
		return MustTensor(Int64, nil, []int64{n.AttrInt("value_int", 0)}), nil
	case n.HasAttr("value_ints"):
		v := append([]int64{}, n.AttrInts("value_ints", nil)...)
		return MustTensor(Int64, []int64{int64(len(v))}, v), nil
	}
	return nil, nil
}

func constantRule(c *inferCtx) ([]typeInfo, error) {
	n := c.n
	switch {
	case n.HasAttr("value_string"):
		return []typeInfo{ranked(String, nil)}, nil
	case n.HasAttr("value_strings"):
		return []typeInfo{ranked(String, staticDims(int64(len(n.AttrStrings("value_strings", nil)))))}, nil
	case n.HasAttr("sparse_value"):
		sp := n.Attr("sparse_value").GetSparseTensor()
		return []typeInfo{ranked(DType(sp.GetValues().GetDataType()), staticDims(sp.GetDims()...))}, nil
	case n.HasAttr("value"):
		// Read the type from the proto: the tensor may be large.
		t := n.Attr("value").GetT()
		return []typeInfo{ranked(DType(t.GetDataType()), staticDims(t.GetDims()...))}, nil
	}
	t, err := constantTensor(c)
	if err != nil || t == nil {
		return nil, err
	}
	return []typeInfo{ranked(t.DType, staticDims(t.Shape...))}, nil
}

// castRule: the input's shape with element type 'to' (a type name such as
// "FLOAT" in opset 1, the type's number from opset 6).
func castRule(c *inferCtx) ([]typeInfo, error) {
	t := c.arg(0)
	a := c.n.Attr("to")
	switch {
	case a == nil:
		return nil, c.errorf("attribute 'to' is required")
	case a.GetType() == onnxpb.AttributeProto_STRING:
		v, ok := onnxpb.TensorProto_DataType_value[strings.ToUpper(string(a.GetS()))]
		if !ok {
			return nil, c.errorf("unknown type %q", a.GetS())
		}
		t.dt = DType(v)
	default:
		t.dt = DType(a.GetI())
	}
	if t.dt == Undefined {
		return nil, c.errorf("attribute 'to' is UNDEFINED")
	}
	return []typeInfo{t}, nil
}

// rangeRule: [max(ceil((limit-start)/delta), 0)] elements of start's type.
func rangeRule(c *inferCtx) ([]typeInfo, error) {
	dt := c.arg(0).dt
	start, ok1 := c.floats(0)
	limit, ok2 := c.floats(1)
	delta, ok3 := c.floats(2)
	if !ok1 || !ok2 || !ok3 {
		return []typeInfo{ranked(dt, []symDim{unknownDim})}, nil
	}
	if len(start) != 1 || len(limit) != 1 || len(delta) != 1 {
		return nil, c.errorf("start, limit and delta must be scalars")
	}
	if delta[0] == 0 {
		return nil, c.errorf("delta is 0")
	}
	n := int64(max(math.Ceil((limit[0]-start[0])/delta[0]), 0))
	return []typeInfo{ranked(dt, []symDim{knownDim(n)})}, nil
}
