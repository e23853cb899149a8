package engine

import (
	"fmt"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// window is the spatial geometry shared by Conv, ConvTranspose and the
// pooling operators: per spatial dimension the input and output lengths,
// the kernel extent, stride, dilation and the padding at both ends.
type window struct {
	in, out, kernel, stride, dil, padB, padE []int
}

// rank returns the number of spatial dimensions.
func (w *window) rank() int { return len(w.in) }

// inSize returns the number of input elements of one channel.
func (w *window) inSize() int { return volume(w.in) }

// outSize returns the number of output elements of one channel.
func (w *window) outSize() int { return volume(w.out) }

// kSize returns the number of kernel taps.
func (w *window) kSize() int { return volume(w.kernel) }

// windowAttrs are the spatial attributes of a node, before the input shape
// is known.
type windowAttrs struct {
	kernel, stride, dil, pads []int64
	autoPad                   string
	ceil                      bool
}

// autoPadModes are the values of the auto_pad attribute.
var autoPadModes = map[string]bool{"NOTSET": true, "SAME_UPPER": true, "SAME_LOWER": true, "VALID": true, "": true}

// readWindowAttrs reads kernel_shape, strides, dilations, pads, auto_pad
// and ceil_mode. kernel may be nil when the node does not give it (Conv
// infers it from the weight shape).
func readWindowAttrs(n *graph.Node) (windowAttrs, error) {
	a := windowAttrs{
		kernel:  n.AttrInts("kernel_shape", nil),
		stride:  n.AttrInts("strides", nil),
		dil:     n.AttrInts("dilations", nil),
		pads:    n.AttrInts("pads", nil),
		autoPad: n.AttrString("auto_pad", "NOTSET"),
		ceil:    n.AttrInt("ceil_mode", 0) != 0,
	}
	if !autoPadModes[a.autoPad] {
		return a, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", a.autoPad)
	}
	for name, v := range map[string][]int64{"strides": a.stride, "dilations": a.dil, "kernel_shape": a.kernel} {
		for _, x := range v {
			if x < 1 {
				return a, fmt.Errorf("%s %v must be positive", name, v)
			}
		}
	}
	for _, p := range a.pads {
		if p < 0 {
			return a, fmt.Errorf("pads %v must not be negative", a.pads)
		}
	}
	return a, nil
}

// forwardWindow computes the geometry of a convolution or pooling whose
// input has spatial dims in and whose kernel has spatial extent kernel,
// following the ONNX output-shape rules (explicit pads with floor or ceil
// rounding, or auto_pad).
func (a windowAttrs) forwardWindow(in, kernel []int) (*window, error) {
	r := len(in)
	w := &window{in: in, kernel: kernel, out: make([]int, r), stride: make([]int, r), dil: make([]int, r), padB: make([]int, r), padE: make([]int, r)}
	if err := a.fill(w); err != nil {
		return nil, err
	}
	for i := range r {
		ext := (w.kernel[i]-1)*w.dil[i] + 1
		switch a.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			w.out[i] = divCeil(in[i], w.stride[i])
			total := max(0, (w.out[i]-1)*w.stride[i]+ext-in[i])
			small, big := total/2, total-total/2
			if a.autoPad == "SAME_UPPER" {
				w.padB[i], w.padE[i] = small, big
			} else {
				w.padB[i], w.padE[i] = big, small
			}
		case "VALID":
			w.padB[i], w.padE[i] = 0, 0
			w.out[i] = divCeil(in[i]-ext+1, w.stride[i])
		default:
			span := in[i] + w.padB[i] + w.padE[i] - ext
			if span < 0 {
				w.out[i] = 0
				break
			}
			if a.ceil {
				w.out[i] = divCeil(span, w.stride[i]) + 1
				// The last window must start inside the input or the
				// leading padding (the rule ONNX Runtime and PyTorch apply).
				if (w.out[i]-1)*w.stride[i] >= in[i]+w.padB[i] {
					w.out[i]--
				}
			} else {
				w.out[i] = span/w.stride[i] + 1
			}
		}
		if w.out[i] <= 0 {
			return nil, fmt.Errorf("spatial dim %d: input %d with kernel %d (dilation %d) and pads %d+%d gives no output", i, in[i], kernel[i], w.dil[i], w.padB[i], w.padE[i])
		}
	}
	return w, nil
}

// fill copies strides, dilations and explicit pads into w, checking their
// lengths against the number of spatial dims.
func (a windowAttrs) fill(w *window) error {
	r := len(w.in)
	for i := range r {
		w.stride[i], w.dil[i] = 1, 1
	}
	if err := copyWindowAttr("strides", a.stride, w.stride); err != nil {
		return err
	}
	if err := copyWindowAttr("dilations", a.dil, w.dil); err != nil {
		return err
	}
	if a.kernel != nil && len(a.kernel) != r {
		return fmt.Errorf("kernel_shape %v has %d entries for %d spatial dims", a.kernel, len(a.kernel), r)
	}
	for i, k := range a.kernel {
		if int(k) != w.kernel[i] {
			return fmt.Errorf("kernel_shape %v does not match the weight's spatial shape %v", a.kernel, w.kernel)
		}
	}
	if a.pads != nil && (a.autoPad == "NOTSET" || a.autoPad == "") {
		if len(a.pads) != 2*r {
			return fmt.Errorf("pads %v has %d entries for %d spatial dims (want %d)", a.pads, len(a.pads), r, 2*r)
		}
		for i := range r {
			w.padB[i], w.padE[i] = int(a.pads[i]), int(a.pads[i+r])
		}
	}
	return nil
}

func copyWindowAttr(name string, v []int64, dst []int) error {
	if v == nil {
		return nil
	}
	if len(v) != len(dst) {
		return fmt.Errorf("%s %v has %d entries for %d spatial dims", name, v, len(v), len(dst))
	}
	for i, x := range v {
		dst[i] = int(x)
	}
	return nil
}

// spatialDims returns the dims after the first two of an N×C×... shape.
func spatialDims(shape []int64, what string) ([]int, error) {
	if len(shape) < 3 {
		return nil, fmt.Errorf("%s has shape %v: want N×C×D1×... with at least one spatial dim", what, shape)
	}
	out := make([]int, len(shape)-2)
	for i, d := range shape[2:] {
		out[i] = int(d)
	}
	return out, nil
}

// int64Dims builds an int64 shape from ints.
func int64Dims(dims ...int) []int64 {
	s := make([]int64, len(dims))
	for i, d := range dims {
		s[i] = int64(d)
	}
	return s
}

// nchwShape returns [n, c, spatial...].
func nchwShape(n, c int, spatial []int) []int64 {
	return int64Dims(slices.Concat([]int{n, c}, spatial)...)
}

func volume(v []int) int {
	p := 1
	for _, x := range v {
		p *= x
	}
	return p
}

func divCeil(a, b int) int {
	if a <= 0 {
		return (a / b)
	}
	return (a + b - 1) / b
}
