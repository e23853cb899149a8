package graph

import "math"

// Rules of the ops that grow or shrink spatial dims by given amounts.
func init() {
	addRules(padRule, "Pad")
	addRules(resizeRule, "Resize")
	addRules(upsampleRule, "Upsample")
}

// padRule adds pads (an attribute before opset 11, input 1 from it; axes
// input 3 from opset 18) to the dims: begins first, then ends.
func padRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	r := len(x.dims)
	unknown := []typeInfo{ranked(x.dt, make([]symDim, r))}
	var pads []int64
	switch {
	case c.opset < 2:
		pads = c.n.AttrInts("paddings", nil)
	case c.opset < 11:
		pads = c.n.AttrInts("pads", nil)
	default:
		var ok bool
		if pads, ok = c.ints(1); !ok {
			return unknown, nil
		}
	}
	var axes []int64
	if c.opset >= 18 && c.has(3) {
		var ok bool
		if axes, ok = c.ints(3); !ok {
			return unknown, nil
		}
	} else {
		for i := 0; i < r; i++ {
			axes = append(axes, int64(i))
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, c.errorf("pads has %d values for %d axes", len(pads), len(axes))
	}
	out := copyDims(x.dims)
	for k, a := range axes {
		i, err := axisIndex(a, r)
		if err != nil {
			return nil, c.errorf("axes %v: %v", axes, err)
		}
		grow := pads[k] + pads[k+len(axes)]
		switch d := x.dims[i]; {
		case grow == 0:
		case d.ok && d.n+grow < 0:
			return nil, c.errorf("pads %v make dim %d of size %d negative", pads, i, d.n)
		case d.ok:
			out[i] = knownDim(d.n + grow)
		default:
			out[i] = unknownDim
		}
	}
	return []typeInfo{ranked(x.dt, out)}, nil
}

// resizeRule: the output dims are sizes when given, else
// floor(dim * scale). Opset 10 has (X, scales); from 11 (X, roi, scales,
// sizes); from 18 the axes attribute selects the dims the lists cover and
// keep_aspect_ratio_policy may scale sizes uniformly.
func resizeRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	r := len(x.dims)
	var axes []int
	if c.opset >= 18 && c.n.HasAttr("axes") {
		for _, a := range c.n.AttrInts("axes", nil) {
			i, err := axisIndex(a, r)
			if err != nil {
				return nil, c.errorf("axes: %v", err)
			}
			axes = append(axes, i)
		}
	} else {
		for i := 0; i < r; i++ {
			axes = append(axes, i)
		}
	}
	unknown := []typeInfo{ranked(x.dt, make([]symDim, r))}
	scalesIn, sizesIn := 2, 3
	if c.opset < 11 {
		scalesIn, sizesIn = 1, -1
	}
	// An input that is given but known to be empty counts as absent.
	present := func(i int) (bool, bool) {
		if i < 0 || !c.has(i) {
			return false, true
		}
		if t := c.arg(i); t.ranked && len(t.dims) == 1 && t.dims[0].is(0) {
			return false, true
		}
		if cv := c.value(i); cv != nil {
			return cv.len() > 0, true
		}
		return true, false
	}
	if given, known := present(sizesIn); given {
		if !known {
			return unknown, nil
		}
		sizes, _ := c.elems(sizesIn)
		if len(sizes) != len(axes) {
			return nil, c.errorf("sizes has %d values for %d axes", len(sizes), len(axes))
		}
		for _, s := range sizes {
			if s.ok && s.n < 0 {
				return nil, c.errorf("sizes %s has a negative size", fmtSymDims(sizes))
			}
		}
		return []typeInfo{ranked(x.dt, resizeSizes(c, x.dims, axes, sizes))}, nil
	}
	given, known := present(scalesIn)
	if !given {
		return nil, c.errorf("needs scales or sizes")
	}
	scales, ok := c.floats(scalesIn)
	if !known || !ok {
		return unknown, nil
	}
	if len(scales) != len(axes) {
		return nil, c.errorf("scales has %d values for %d axes", len(scales), len(axes))
	}
	for _, s := range scales {
		if !(s > 0) {
			return nil, c.errorf("scales %v must be positive", scales)
		}
	}
	return []typeInfo{ranked(x.dt, scaleDims(x.dims, axes, scales))}, nil
}

// resizeSizes applies sizes, scaled uniformly when
// keep_aspect_ratio_policy is not_larger or not_smaller.
func resizeSizes(c *inferCtx, dims []symDim, axes []int, sizes []symDim) []symDim {
	out := copyDims(dims)
	policy := "stretch"
	if c.opset >= 18 {
		policy = c.n.AttrString("keep_aspect_ratio_policy", "stretch")
	}
	if policy == "stretch" {
		for k, i := range axes {
			out[i] = sizes[k]
		}
		return out
	}
	scale := math.NaN()
	for k, i := range axes {
		if !sizes[k].ok || !dims[i].ok {
			for _, j := range axes {
				out[j] = unknownDim
			}
			return out
		}
		s := float64(sizes[k].n) / float64(dims[i].n)
		if math.IsNaN(scale) || (policy == "not_larger") == (s < scale) {
			scale = s
		}
	}
	for _, i := range axes {
		out[i] = knownDim(int64(math.Round(scale * float64(dims[i].n))))
	}
	return out
}

// scaleDims gives floor(dim * scale) in float32 arithmetic, as ONNX's own
// inference does; a dim that is not known survives a scale of 1.
func scaleDims(dims []symDim, axes []int, scales []float64) []symDim {
	out := copyDims(dims)
	for k, i := range axes {
		switch d := dims[i]; {
		case scales[k] == 1:
		case d.ok:
			out[i] = knownDim(int64(math.Floor(float64(float32(d.n) * float32(scales[k])))))
		default:
			out[i] = unknownDim
		}
	}
	return out
}

// upsampleRule: floor(dim * scale), scales an attribute before opset 9
// and input 1 from it.
func upsampleRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	var scales []float64
	if c.opset < 9 {
		for _, f := range c.n.AttrFloats("scales", nil) {
			scales = append(scales, float64(f))
		}
	} else {
		var ok bool
		if scales, ok = c.floats(1); !ok {
			return []typeInfo{ranked(x.dt, make([]symDim, len(x.dims)))}, nil
		}
	}
	if len(scales) != len(x.dims) {
		return nil, c.errorf("scales has %d values for rank %d", len(scales), len(x.dims))
	}
	for _, s := range scales {
		if !(s > 0) {
			return nil, c.errorf("scales %v must be positive", scales)
		}
	}
	axes := make([]int, len(x.dims))
	for i := range axes {
		axes[i] = i
	}
	return []typeInfo{ranked(x.dt, scaleDims(x.dims, axes, scales))}, nil
}
