package graph

import "fmt"

// slideWindow is the sliding-window geometry of a Conv or pool over the
// spatial dims: kernel sizes, strides, dilations, pads (all begins, then
// all ends), auto_pad and ceil_mode.
type slideWindow struct {
	kernel, strides, dilations, pads []int64
	autoPad                          string
	ceil                             bool
}

// readSlideWindow reads the window attributes of c's node for `spatial` spatial
// dims; kernel is the kernel_shape attribute or the weight's spatial dims
// (entries < 0 when unknown).
func readSlideWindow(c *inferCtx, spatial int, kernel []int64) (slideWindow, error) {
	w := slideWindow{
		kernel:    c.n.AttrInts("kernel_shape", kernel),
		strides:   c.n.AttrInts("strides", nil),
		dilations: c.n.AttrInts("dilations", nil),
		pads:      c.n.AttrInts("pads", nil),
		autoPad:   c.n.AttrString("auto_pad", "NOTSET"),
		ceil:      c.n.AttrInt("ceil_mode", 0) != 0,
	}
	fill := func(v []int64, n int, def int64) []int64 {
		if v != nil {
			return v
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = def
		}
		return out
	}
	w.strides = fill(w.strides, spatial, 1)
	w.dilations = fill(w.dilations, spatial, 1)
	w.pads = fill(w.pads, 2*spatial, 0)
	switch {
	case len(w.kernel) != spatial:
		return w, c.errorf("kernel has %d dims, the input has %d spatial dims", len(w.kernel), spatial)
	case len(w.strides) != spatial:
		return w, c.errorf("strides has %d values for %d spatial dims", len(w.strides), spatial)
	case len(w.dilations) != spatial:
		return w, c.errorf("dilations has %d values for %d spatial dims", len(w.dilations), spatial)
	case len(w.pads) != 2*spatial:
		return w, c.errorf("pads has %d values for %d spatial dims", len(w.pads), spatial)
	}
	for i := 0; i < spatial; i++ {
		if w.strides[i] <= 0 || w.dilations[i] <= 0 {
			return w, c.errorf("strides and dilations must be positive, got %v and %v", w.strides, w.dilations)
		}
	}
	switch w.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return w, c.errorf("unknown auto_pad %q", w.autoPad)
	}
	return w, nil
}

// out returns the output size of spatial dim i for an input of size in.
// A symbolic input size survives a window that keeps the size (stride 1,
// padding that makes up for the kernel).
func (w slideWindow) out(in symDim, i int) (symDim, error) {
	sp := len(w.kernel)
	if w.kernel[i] < 0 {
		return unknownDim, nil
	}
	k := (w.kernel[i]-1)*w.dilations[i] + 1
	s := w.strides[i]
	var pad int64
	switch w.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		if !in.ok {
			if s == 1 {
				return in, nil
			}
			return unknownDim, nil
		}
		return knownDim(ceilDiv64(in.n, s)), nil
	case "NOTSET":
		pad = w.pads[i] + w.pads[i+sp]
	}
	if !in.ok {
		if s == 1 && pad == k-1 {
			return in, nil
		}
		return unknownDim, nil
	}
	total := in.n + pad - k
	if total < 0 {
		return unknownDim, fmt.Errorf("spatial dim %d: kernel extent %d is larger than the padded input %d", i, k, in.n+pad)
	}
	if !w.ceil {
		return knownDim(total/s + 1), nil
	}
	o := ceilDiv64(total, s) + 1
	if (o-1)*s >= in.n+w.pads[i] { // the last window would start in the end padding
		o--
	}
	return knownDim(o), nil
}

func ceilDiv64(a, b int64) int64 {
	if a >= 0 {
		return (a + b - 1) / b
	}
	return -((-a) / b)
}

// spatialOut applies the window to the spatial dims of x (x.dims[2:]).
func (w slideWindow) spatialOut(c *inferCtx, x []symDim) ([]symDim, error) {
	out := make([]symDim, len(x))
	for i, d := range x {
		o, err := w.out(d, i)
		if err != nil {
			return nil, c.errorf("%v", err)
		}
		out[i] = o
	}
	return out, nil
}
