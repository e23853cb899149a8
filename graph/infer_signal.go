package graph

// Rules of the signal-processing ops: window functions, DFT, STFT and
// MelWeightMatrix.
func init() {
	addRules(windowRule, "HannWindow", "HammingWindow", "BlackmanWindow")
	addRules(dftRule, "DFT")
	addRules(stftRule, "STFT")
	addRules(melRule, "MelWeightMatrix")
}

// scalarDim returns the value of scalar integer input i as a dim.
func (c *inferCtx) scalarDim(i int) symDim {
	if v, ok := c.elems(i); ok && len(v) == 1 {
		return v[0]
	}
	return unknownDim
}

func outputDatatype(c *inferCtx) DType {
	return DType(c.n.AttrInt("output_datatype", int64(Float)))
}

// windowRule: a window of `size` (input 0) values.
func windowRule(c *inferCtx) ([]typeInfo, error) {
	return []typeInfo{ranked(outputDatatype(c), []symDim{c.scalarDim(0)})}, nil
}

// dftRule: [batch, n..., 1 or 2] gives [batch, n'..., 2] where the
// transformed axis has dft_length (input 1) values, floor(len/2)+1 when
// onesided. The axis is an attribute (default 1) before opset 20 and
// input 2 (default -2) from it.
func dftRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{unranked(x.dt)}, nil
	}
	r := len(x.dims)
	if r < 2 {
		return nil, c.errorf("input has rank %d; DFT needs [batch, n..., 1 or 2]", r)
	}
	var axis int64 = 1
	if c.opset >= 20 {
		axis = -2
		if c.has(2) {
			a, ok := c.ints(2)
			if !ok || len(a) != 1 {
				return []typeInfo{ranked(x.dt, make([]symDim, r))}, nil
			}
			axis = a[0]
		}
	} else {
		axis = c.n.AttrInt("axis", 1)
	}
	i, err := axisIndex(axis, r-1)
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	out := copyDims(x.dims)
	out[r-1] = knownDim(2)
	n := x.dims[i]
	if c.has(1) {
		n = c.scalarDim(1)
	}
	if c.n.AttrInt("onesided", 0) != 0 {
		n = halfPlusOne(n)
	}
	out[i] = n
	return []typeInfo{ranked(x.dt, out)}, nil
}

func halfPlusOne(n symDim) symDim {
	if !n.ok {
		return unknownDim
	}
	return knownDim(n.n/2 + 1)
}

// stftRule: signal [batch, length, 1 or 2] gives [batch, frames, bins, 2]
// with frames = (length - frame_length) / frame_step + 1 and bins the
// frame length (halved plus one when onesided).
func stftRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked || len(x.dims) != 3 {
		return []typeInfo{unranked(x.dt)}, nil
	}
	frame := unknownDim
	if c.has(3) {
		frame = c.scalarDim(3)
	} else if w := c.arg(2); c.has(2) && w.ranked && len(w.dims) == 1 {
		frame = w.dims[0]
	}
	step := c.scalarDim(1)
	frames := unknownDim
	if frame.ok && step.ok && x.dims[1].ok && step.n > 0 {
		frames = knownDim((x.dims[1].n-frame.n)/step.n + 1)
	}
	bins := frame
	if c.n.AttrInt("onesided", 1) != 0 {
		bins = halfPlusOne(frame)
	}
	return []typeInfo{ranked(x.dt, []symDim{x.dims[0], frames, bins, knownDim(2)})}, nil
}

// melRule: [floor(dft_length/2)+1, num_mel_bins].
func melRule(c *inferCtx) ([]typeInfo, error) {
	return []typeInfo{ranked(outputDatatype(c), []symDim{halfPlusOne(c.scalarDim(1)), c.scalarDim(0)})}, nil
}
