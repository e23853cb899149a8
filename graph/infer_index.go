package graph

import "math"

// Rules of the ops that select, join, split or reduce along axes.
func init() {
	addRules(concatRule, "Concat")
	addRules(splitRule, "Split")
	addRules(sliceRule, "Slice")
	addRules(gatherRule, "Gather")
	addRules(func(c *inferCtx) ([]typeInfo, error) {
		t := c.arg(1)
		t.dt = c.arg(0).dt
		return []typeInfo{t}, nil
	}, "GatherElements")
	addRules(gatherNDRule, "GatherND")
	addRules(topKRule, "TopK")
	addRules(argRule, "ArgMax", "ArgMin")
	addRules(reduceRule(13), "ReduceSum")
	addRules(reduceRule(18), "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
	addRules(oneHotRule, "OneHot")
	addRules(nonZeroRule, "NonZero")
	addRules(compressRule, "Compress")
	addRules(detRule, "Det")
	addRules(func(c *inferCtx) ([]typeInfo, error) {
		return []typeInfo{ranked(Int64, []symDim{unknownDim, knownDim(3)})}, nil
	}, "NonMaxSuppression")
}

// concatRule joins the inputs along axis; the other dims must agree.
func concatRule(c *inferCtx) ([]typeInfo, error) {
	var dt DType
	rank := -1
	for i := range c.n.Inputs {
		t := c.arg(i)
		if dt == Undefined {
			dt = t.dt
		}
		if !t.ranked {
			continue
		}
		if rank >= 0 && len(t.dims) != rank {
			return nil, c.errorf("inputs have ranks %d and %d", rank, len(t.dims))
		}
		rank = len(t.dims)
	}
	if rank < 0 {
		return []typeInfo{unranked(dt)}, nil
	}
	def := int64(0)
	if c.opset < 4 {
		def = 1
	}
	axis, err := axisIndex(c.n.AttrInt("axis", def), rank)
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	out := make([]symDim, rank)
	sum := knownDim(0)
	for i := range c.n.Inputs {
		t := c.arg(i)
		if !t.ranked {
			sum = unknownDim
			continue
		}
		for j, d := range t.dims {
			if j == axis {
				sum = addDim(sum, d)
				continue
			}
			if i == 0 {
				out[j] = d
				continue
			}
			u, ok := unifyDim(out[j], d)
			if !ok {
				return nil, c.errorf("input %d has shape %s; dim %d differs from %s", i, fmtSymDims(t.dims), j, out[j])
			}
			out[j] = u
		}
	}
	out[axis] = sum
	return []typeInfo{ranked(dt, out)}, nil
}

// splitRule cuts the input along axis into the given sizes (attribute
// before opset 13, input 1 from it), or into equal parts (num_outputs
// from opset 18: the last part may be smaller).
func splitRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	n := len(c.n.Outputs)
	outs := make([]typeInfo, n)
	if !x.ranked || n == 0 {
		for i := range outs {
			outs[i] = unranked(x.dt)
		}
		return outs, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	d := x.dims[axis]
	sizes, given, known := c.intsParam("split", 1, 13)
	parts := make([]symDim, n)
	switch {
	case given && known:
		if len(sizes) != n {
			return nil, c.errorf("split has %d sizes for %d outputs", len(sizes), n)
		}
		total := int64(0)
		for i, s := range sizes {
			if s < 0 {
				return nil, c.errorf("split sizes %v must not be negative", sizes)
			}
			parts[i] = knownDim(s)
			total += s
		}
		if d.ok && total != d.n {
			return nil, c.errorf("split sizes %v add up to %d, the dim is %d", sizes, total, d.n)
		}
	case given || !d.ok:
	case c.opset >= 18 && c.n.HasAttr("num_outputs"):
		k := c.n.AttrInt("num_outputs", 0)
		if k != int64(n) {
			return nil, c.errorf("num_outputs %d but the node has %d outputs", k, n)
		}
		chunk := ceilDiv64(d.n, k)
		for i := range parts {
			parts[i] = knownDim(max(0, min(chunk, d.n-chunk*int64(i))))
		}
	default:
		if d.n%int64(n) != 0 {
			return nil, c.errorf("dim %d of size %d does not split into %d equal parts", axis, d.n, n)
		}
		for i := range parts {
			parts[i] = knownDim(d.n / int64(n))
		}
	}
	for i := range outs {
		dims := copyDims(x.dims)
		dims[axis] = parts[i]
		outs[i] = ranked(x.dt, dims)
	}
	return outs, nil
}

// sliceAxis is what Slice takes of one input dim: count elements from
// start in steps of step.
type sliceAxis struct{ start, step, count int64 }

// slicePlan resolves Slice's starts, ends, axes and steps (attributes
// before opset 10, inputs from it) against static input dims; known is
// false when they are not all known.
func slicePlan(c *inferCtx, dims []symDim) (plan []sliceAxis, known bool, err error) {
	_, plan, known, err = sliceDims(c, dims)
	return plan, known, err
}

// sliceDims is slicePlan for any input dims: out has the output dims (a
// dim that is not known survives a slice that takes all of it); plan is
// nil unless every input dim is known.
func sliceDims(c *inferCtx, dims []symDim) (out []symDim, plan []sliceAxis, known bool, err error) {
	var starts, ends, axes, steps []int64
	okS, okE, okA, okT := true, true, true, true
	if c.opset < 10 {
		starts, ends, axes = c.n.AttrInts("starts", nil), c.n.AttrInts("ends", nil), c.n.AttrInts("axes", nil)
	} else {
		starts, okS = c.ints(1)
		ends, okE = c.ints(2)
		if c.has(3) {
			axes, okA = c.ints(3)
		}
		if c.has(4) {
			steps, okT = c.ints(4)
		}
	}
	r := len(dims)
	if !okS || !okE || !okA || !okT {
		return nil, nil, false, nil
	}
	if len(ends) != len(starts) {
		return nil, nil, false, c.errorf("%d starts but %d ends", len(starts), len(ends))
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, nil, false, c.errorf("starts, ends, axes and steps have %d, %d, %d and %d values", len(starts), len(ends), len(axes), len(steps))
	}
	out = copyDims(dims)
	plan = make([]sliceAxis, r)
	for i, d := range dims {
		plan[i] = sliceAxis{0, 1, d.n}
	}
	seen := make([]bool, r)
	allKnown := true
	for k, a := range axes {
		i, err := axisIndex(a, r)
		if err != nil {
			return nil, nil, false, c.errorf("axes %v: %v", axes, err)
		}
		if seen[i] {
			return nil, nil, false, c.errorf("axes %v repeat axis %d", axes, i)
		}
		seen[i] = true
		st, en, step := starts[k], ends[k], steps[k]
		if step == 0 {
			return nil, nil, false, c.errorf("steps %v has a 0", steps)
		}
		d := dims[i]
		if !d.ok {
			allKnown = false
			if !(st == 0 && step == 1 && en >= math.MaxInt32) {
				out[i] = unknownDim
			}
			continue
		}
		n := d.n
		if st < 0 {
			st += n
		}
		if en < 0 {
			en += n
		}
		var cnt int64
		if step > 0 {
			st, en = min(max(st, 0), n), min(max(en, 0), n)
			cnt = max(0, ceilDiv64(en-st, step))
		} else {
			st, en = min(max(st, 0), n-1), min(max(en, -1), n-1)
			cnt = max(0, ceilDiv64(st-en, -step))
		}
		plan[i] = sliceAxis{st, step, cnt}
		out[i] = knownDim(cnt)
	}
	for _, d := range dims {
		allKnown = allKnown && d.ok
	}
	if !allKnown {
		plan = nil
	}
	return out, plan, true, nil
}

func sliceRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	out, _, known, err := sliceDims(c, x.dims)
	if err != nil {
		return nil, err
	}
	if !known {
		return []typeInfo{ranked(x.dt, make([]symDim, len(x.dims)))}, nil
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// gatherRule: data[:axis] + indices + data[axis+1:].
func gatherRule(c *inferCtx) ([]typeInfo, error) {
	x, ind := c.arg(0), c.arg(1)
	if !x.ranked || !ind.ranked {
		return []typeInfo{unranked(x.dt)}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	if is, ok := c.ints(1); ok && x.dims[axis].ok {
		n := x.dims[axis].n
		for _, i := range is {
			if i < -n || i >= n {
				return nil, c.errorf("index %d is out of range for dim %d of size %d", i, axis, n)
			}
		}
	}
	out := append(append(copyDims(x.dims[:axis]), ind.dims...), x.dims[axis+1:]...)
	return []typeInfo{ranked(x.dt, out)}, nil
}

// gatherNDRule: indices[:-1] + data[batch_dims+indices[-1]:].
func gatherNDRule(c *inferCtx) ([]typeInfo, error) {
	x, ind := c.arg(0), c.arg(1)
	if !x.ranked || !ind.ranked || len(ind.dims) == 0 || !ind.dims[len(ind.dims)-1].ok {
		return []typeInfo{unranked(x.dt)}, nil
	}
	b := int(c.n.AttrInt("batch_dims", 0))
	last := int(ind.dims[len(ind.dims)-1].n)
	if b < 0 || b >= len(ind.dims) || b+last > len(x.dims) {
		return nil, c.errorf("indices of depth %d with batch_dims %d exceed the data rank %d", last, b, len(x.dims))
	}
	out := append(copyDims(ind.dims[:len(ind.dims)-1]), x.dims[b+last:]...)
	return []typeInfo{ranked(x.dt, out)}, nil
}

// topKRule: the input with dim axis = K (an attribute before opset 10,
// input 1 from it); values and int64 indices.
func topKRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{unranked(x.dt), unranked(Int64)}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", -1), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	k := unknownDim
	if c.opset < 10 {
		k = knownDim(c.n.AttrInt("k", 0))
	} else if ks, ok := c.ints(1); ok {
		if len(ks) != 1 {
			return nil, c.errorf("K must have one value, has %d", len(ks))
		}
		k = knownDim(ks[0])
	}
	if k.ok && (k.n < 0 || x.dims[axis].ok && k.n > x.dims[axis].n) {
		return nil, c.errorf("K=%d is out of range for dim %d of size %s", k.n, axis, x.dims[axis])
	}
	dims := copyDims(x.dims)
	dims[axis] = k
	return []typeInfo{ranked(x.dt, dims), ranked(Int64, copyDims(dims))}, nil
}

// argRule: ArgMax/ArgMin reduce one axis (kept as 1 with keepdims) to
// int64 indices.
func argRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{unranked(Int64)}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	return []typeInfo{ranked(Int64, reduceDims(x.dims, []int{axis}, c.n.AttrInt("keepdims", 1) != 0))}, nil
}

func reduceDims(dims []symDim, axes []int, keep bool) []symDim {
	red := make([]bool, len(dims))
	for _, a := range axes {
		red[a] = true
	}
	out := []symDim{}
	for i, d := range dims {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, knownDim(1))
		}
	}
	return out
}

// reduceRule serves the ReduceX ops, whose axes are an attribute before
// opset `since` and an input from it (where an empty list reduces
// everything unless noop_with_empty_axes).
func reduceRule(since int64) inferRule {
	return func(c *inferCtx) ([]typeInfo, error) {
		x := c.arg(0)
		keep := c.n.AttrInt("keepdims", 1) != 0
		axes, given, known := c.intsParam("axes", 1, since)
		if !x.ranked {
			return []typeInfo{unranked(x.dt)}, nil
		}
		if !known {
			if keep {
				return []typeInfo{ranked(x.dt, make([]symDim, len(x.dims)))}, nil
			}
			return []typeInfo{unranked(x.dt)}, nil
		}
		if !given || len(axes) == 0 {
			if c.opset >= since && c.n.AttrInt("noop_with_empty_axes", 0) != 0 {
				return []typeInfo{x}, nil
			}
			axes = nil
			for i := range x.dims {
				axes = append(axes, int64(i))
			}
		}
		idx := make([]int, len(axes))
		for k, a := range axes {
			i, err := axisIndex(a, len(x.dims))
			if err != nil {
				return nil, c.errorf("axes %v: %v", axes, err)
			}
			idx[k] = i
		}
		return []typeInfo{ranked(x.dt, reduceDims(x.dims, idx, keep))}, nil
	}
}

// oneHotRule inserts a dim of size depth at axis; the element type is the
// values' (input 2).
func oneHotRule(c *inferCtx) ([]typeInfo, error) {
	ind := c.arg(0)
	dt := c.arg(2).dt
	if !ind.ranked {
		return []typeInfo{unranked(dt)}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", -1), len(ind.dims)+1)
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	depth := unknownDim
	if d, ok := c.floats(1); ok && len(d) == 1 {
		if d[0] < 0 {
			return nil, c.errorf("depth %g is negative", d[0])
		}
		depth = knownDim(int64(d[0]))
	}
	out := append(append(copyDims(ind.dims[:axis]), depth), ind.dims[axis:]...)
	return []typeInfo{ranked(dt, out)}, nil
}

// nonZeroRule: [rank, count of non-zeros], the count known when the input
// value is.
func nonZeroRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	r := unknownDim
	if x.ranked {
		r = knownDim(int64(len(x.dims)))
	}
	return []typeInfo{ranked(Int64, []symDim{r, countNonZero(c.value(0))})}, nil
}

// countNonZero counts the non-zero elements of a known value.
func countNonZero(cv *constVal) symDim {
	if cv == nil {
		return unknownDim
	}
	fs, ok := cv.knownFloats()
	if !ok {
		return unknownDim
	}
	n := int64(0)
	for _, f := range fs {
		if f != 0 {
			n++
		}
	}
	return knownDim(n)
}

// compressRule keeps the slices whose condition (input 1) is true, along
// axis or of the flattened input; their count is known when the condition
// is.
func compressRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	kept := countNonZero(c.value(1))
	if !c.n.HasAttr("axis") {
		return []typeInfo{ranked(x.dt, []symDim{kept})}, nil
	}
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 0), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	dims := copyDims(x.dims)
	dims[axis] = kept
	return []typeInfo{ranked(x.dt, dims)}, nil
}

// detRule drops the two matrix dims.
func detRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	if len(x.dims) < 2 {
		return nil, c.errorf("input has rank %d; Det needs [..., M, M]", len(x.dims))
	}
	return []typeInfo{ranked(x.dt, copyDims(x.dims[:len(x.dims)-2]))}, nil
}
