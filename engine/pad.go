package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// Pad's interface changed twice: opsets 1-10 take the pads (opset 1:
// "paddings") and the constant value as attributes; 11-17 as inputs
// (data, pads, constant_value); 18 adds the axes input. Mode "wrap" is
// opset 19's, accepted from 18 on here (one entry).
func init() {
	Register(&Op{Type: "Pad", MinOpset: 1, MaxOpset: 10, Forward: padForward, Backward: padBackward, Check: checkPad})
	Register(&Op{Type: "Pad", MinOpset: 11, MaxOpset: 17, Forward: padForward, Backward: padBackward, Check: checkPad})
	Register(&Op{Type: "Pad", MinOpset: 18, Forward: padForward, Backward: padBackward, Check: checkPad})
}

var padModes = map[string]bool{"constant": true, "reflect": true, "edge": true, "wrap": true}

func checkPad(n *graph.Node) error {
	if m := n.AttrString("mode", "constant"); !padModes[m] {
		return fmt.Errorf("mode %q is not one of constant, reflect, edge, wrap", m)
	}
	return nil
}

// padPlan maps every output index along every dim to its source index in
// the input, or -1 where the constant goes.
type padPlan struct {
	in, out []int
	src     [][]int
	value   float64 // the constant (constant mode)
	valueT  *graph.Tensor
}

// newPadPlan reads the pads (and axes, constant value) of a Pad node.
func newPadPlan(ctx *Context, in []*graph.Tensor) (*padPlan, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("Pad needs input data")
	}
	n := ctx.Node
	r := in[0].Rank()
	p := &padPlan{in: make([]int, r), out: make([]int, r), src: make([][]int, r)}
	for i, d := range in[0].Shape {
		p.in[i] = int(d)
	}
	var pads []int64
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if ctx.Opset < 11 {
		pads = n.AttrInts("pads", n.AttrInts("paddings", nil))
		p.value = float64(n.AttrFloat("value", 0))
	} else {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("Pad needs input pads")
		}
		v, err := in[1].Int64s()
		if err != nil {
			return nil, fmt.Errorf("pads: %w", err)
		}
		pads = v
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			p.valueT = in[2]
		}
		if len(in) > 3 && in[3] != nil {
			ax, err := in[3].Int64s()
			if err != nil {
				return nil, fmt.Errorf("axes: %w", err)
			}
			axes = axes[:0]
			seen := map[int]bool{}
			for _, a := range ax {
				if a < -int64(r) || a >= int64(r) {
					return nil, fmt.Errorf("axis %d is out of range for rank %d", a, r)
				}
				if a < 0 {
					a += int64(r)
				}
				if seen[int(a)] {
					return nil, fmt.Errorf("axes %v repeat axis %d", ax, a)
				}
				seen[int(a)] = true
				axes = append(axes, int(a))
			}
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v has %d entries, want %d (2 per padded axis of input %v)", pads, len(pads), 2*len(axes), in[0].Shape)
	}
	begin, end := make([]int, r), make([]int, r)
	for i, a := range axes {
		begin[a], end[a] = int(pads[i]), int(pads[i+len(axes)])
	}
	mode := n.AttrString("mode", "constant")
	for d := 0; d < r; d++ {
		size := p.in[d] + begin[d] + end[d]
		if size < 0 {
			return nil, fmt.Errorf("pads %v remove more than dim %d (%d) holds", pads, d, p.in[d])
		}
		if p.in[d] == 0 && size > 0 && mode != "constant" {
			return nil, fmt.Errorf("mode %s cannot pad the empty dim %d", mode, d)
		}
		p.out[d] = size
		p.src[d] = make([]int, size)
		for o := range p.src[d] {
			p.src[d][o] = padSource(o-begin[d], p.in[d], mode)
		}
	}
	return p, nil
}

// padSource maps an index i of the padded axis (relative to the input's
// start) to the input index it copies, or -1 for the constant.
func padSource(i, n int, mode string) int {
	if i >= 0 && i < n {
		return i
	}
	switch mode {
	case "edge":
		return min(max(i, 0), n-1)
	case "wrap":
		return ((i % n) + n) % n
	case "reflect":
		if n == 1 {
			return 0
		}
		period := 2 * (n - 1)
		j := ((i % period) + period) % period
		if j >= n {
			j = period - j
		}
		return j
	}
	return -1
}

// padFill copies src into dst following the plan, writing c where the
// plan says constant.
func padFill[T any](p *padPlan, dst, src []T, c T) {
	if len(dst) == 0 {
		return
	}
	inStr, outStr := rowStrides(p.in), rowStrides(p.out)
	last := len(p.in) - 1
	var rec func(d, dOff, sOff int)
	rec = func(d, dOff, sOff int) {
		for o, s := range p.src[d] {
			do := dOff + o*outStr[d]
			switch {
			case s < 0:
				for i := do; i < do+outStr[d]; i++ {
					dst[i] = c
				}
			case d == last:
				dst[do] = src[sOff+s]
			default:
				rec(d+1, do, sOff+s*inStr[d])
			}
		}
	}
	if last < 0 { // a scalar
		dst[0] = src[0]
		return
	}
	rec(0, 0, 0)
}

// rowStrides returns the row-major strides of dims.
func rowStrides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// padTyped pads data of element type T; conv turns the constant (a float
// attribute) into T.
func padTyped[T any](p *padPlan, data []T, conv func(float64) T) ([]T, error) {
	out := make([]T, volume(p.out))
	c := conv(p.value)
	if p.valueT != nil {
		v, ok := p.valueT.Data.([]T)
		if !ok || len(v) == 0 {
			return nil, fmt.Errorf("constant_value is %s, want the data's type", p.valueT.DType)
		}
		c = v[0]
	}
	padFill(p, out, data, c)
	return out, nil
}

// padForward computes Pad for any element type.
func padForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, err := newPadPlan(ctx, in)
	if err != nil {
		return nil, err
	}
	t, err := padData(p, in[0])
	if err != nil {
		return nil, err
	}
	return []*graph.Tensor{t}, nil
}

// padData applies a pad plan (any index map with -1 for the constant) to
// a tensor of any element type.
func padData(p *padPlan, x *graph.Tensor) (*graph.Tensor, error) {
	var out any
	var err error
	switch d := x.Data.(type) {
	case []float32:
		out, err = padTyped(p, d, func(v float64) float32 { return float32(v) })
	case []float64:
		out, err = padTyped(p, d, func(v float64) float64 { return v })
	case []int64:
		out, err = padTyped(p, d, func(v float64) int64 { return int64(v) })
	case []int32:
		out, err = padTyped(p, d, func(v float64) int32 { return int32(v) })
	case []int16:
		out, err = padTyped(p, d, func(v float64) int16 { return int16(v) })
	case []int8:
		out, err = padTyped(p, d, func(v float64) int8 { return int8(v) })
	case []uint8:
		out, err = padTyped(p, d, func(v float64) uint8 { return uint8(v) })
	case []uint16:
		conv := func(v float64) uint16 { return uint16(v) }
		switch x.DType {
		case graph.Float16:
			conv = func(v float64) uint16 { return graph.Float32ToFloat16(float32(v)) }
		case graph.BFloat16:
			conv = func(v float64) uint16 { return graph.Float32ToBFloat16(float32(v)) }
		}
		out, err = padTyped(p, d, conv)
	case []uint32:
		out, err = padTyped(p, d, func(v float64) uint32 { return uint32(v) })
	case []uint64:
		out, err = padTyped(p, d, func(v float64) uint64 { return uint64(v) })
	case []bool:
		out, err = padTyped(p, d, func(v float64) bool { return v != 0 })
	case []string:
		out, err = padTyped(p, d, func(float64) string { return "" })
	default:
		return nil, fmt.Errorf("%s data is not supported", x.DType)
	}
	if err != nil {
		return nil, err
	}
	return graph.NewTensor(x.DType, int64Dims(p.out...), out)
}

// padBackward adds each output gradient to the input element it was
// copied from (several for reflect, edge and wrap; none for the constant).
func padBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	p, err := newPadPlan(ctx, in)
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of output")
	if err != nil {
		return nil, err
	}
	if len(dy) != volume(p.out) {
		return nil, fmt.Errorf("gradient of output has shape %v, want %v", dout[0].Shape, p.out)
	}
	// Scatter through an index map: the forward pass applied to the
	// input's flat indices says where each output element came from.
	idx := make([]int64, volume(p.in))
	for i := range idx {
		idx[i] = int64(i)
	}
	src := make([]int64, len(dy))
	padFill(p, src, idx, -1)
	dx := make([]float32, len(idx))
	for o, s := range src {
		if s >= 0 {
			dx[s] += dy[o]
		}
	}
	grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
	return grads, nil
}
