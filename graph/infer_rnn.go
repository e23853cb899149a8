package graph

// Rules of the recurrent ops RNN, GRU and LSTM.
func init() {
	addRules(rnnRule, "RNN", "GRU", "LSTM")
}

// rnnRule: X is [seq, batch, input] (layout 0) or [batch, seq, input]
// (layout 1). Y is [seq, dirs, batch, hidden] or [batch, seq, dirs,
// hidden]; Y_h (and LSTM's Y_c) [dirs, batch, hidden] or [batch, dirs,
// hidden].
func rnnRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	hidden := unknownDim
	if h := c.n.AttrInt("hidden_size", 0); h > 0 {
		hidden = knownDim(h)
	} else if r := c.arg(2); r.ranked && len(r.dims) == 3 {
		hidden = r.dims[2] // R is [dirs, gates*hidden, hidden]
	}
	dirs := knownDim(1)
	switch dir := c.n.AttrString("direction", "forward"); dir {
	case "bidirectional":
		dirs = knownDim(2)
	case "forward", "reverse":
	default:
		return nil, c.errorf("unknown direction %q", dir)
	}
	if !x.ranked {
		return []typeInfo{unranked(x.dt), unranked(x.dt), unranked(x.dt)}, nil
	}
	if len(x.dims) != 3 {
		return nil, c.errorf("X has rank %d, want 3", len(x.dims))
	}
	seq, batch := x.dims[0], x.dims[1]
	layout := c.opset >= 14 && c.n.AttrInt("layout", 0) != 0
	if layout {
		seq, batch = batch, seq
	}
	y := []symDim{seq, dirs, batch, hidden}
	h := []symDim{dirs, batch, hidden}
	if layout {
		y = []symDim{batch, seq, dirs, hidden}
		h = []symDim{batch, dirs, hidden}
	}
	return []typeInfo{ranked(x.dt, y), ranked(x.dt, h), ranked(x.dt, copyDims(h))}, nil
}
