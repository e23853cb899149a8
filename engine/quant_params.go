package engine

import (
	"fmt"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// quantLayout maps every element of x to the index of its scale and zero
// point: per-tensor (one scale), per-axis (a 1-D scale along axis) or
// blocked (scale shaped like x with the axis divided into blocks of
// blockSize, opset 21+).
type quantLayout struct {
	mode         string // "tensor", "axis" or "block"
	outer, inner int    // elements before / after the axis
	dim          int    // x's size along the axis
	sdim         int    // the scale's size along the axis (blocked)
	block        int
}

// newQuantLayout checks the scale shape against x and the node's axis and
// block_size attributes.
func newQuantLayout(ctx *Context, x, scale *graph.Tensor) (*quantLayout, error) {
	block := ctx.Node.AttrInt("block_size", 0)
	if block < 0 {
		return nil, fmt.Errorf("block_size %d is negative", block)
	}
	if scale.Len() == 1 && block == 0 && scale.Rank() <= 1 {
		return &quantLayout{mode: "tensor"}, nil
	}
	if ctx.Opset < 13 {
		return nil, fmt.Errorf("scale of shape %v: opset %d supports only per-tensor quantization", scale.Shape, ctx.Opset)
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("scale of shape %v does not fit a scalar input", scale.Shape)
	}
	axis, err := NormAxis(ctx.Node.AttrInt("axis", 1), x.Rank())
	if err != nil {
		return nil, err
	}
	l := &quantLayout{outer: ShapeSize(x.Shape[:axis]), inner: ShapeSize(x.Shape[axis+1:]), dim: int(x.Shape[axis])}
	if block == 0 {
		if scale.Rank() != 1 || scale.Shape[0] != x.Shape[axis] {
			return nil, fmt.Errorf("per-axis scale of shape %v must be 1-D of length %d (axis %d of input shape %v)", scale.Shape, x.Shape[axis], axis, x.Shape)
		}
		l.mode = "axis"
		return l, nil
	}
	if scale.Rank() != x.Rank() {
		return nil, fmt.Errorf("blocked scale of shape %v must have the rank of input shape %v", scale.Shape, x.Shape)
	}
	for d := range x.Shape {
		if d != axis && scale.Shape[d] != x.Shape[d] {
			return nil, fmt.Errorf("blocked scale of shape %v must match input shape %v except on axis %d", scale.Shape, x.Shape, axis)
		}
	}
	s := scale.Shape[axis]
	// The accepted block sizes: s blocks cover the axis, s-1 do not.
	if s*block < x.Shape[axis] || (s-1)*block >= x.Shape[axis] {
		return nil, fmt.Errorf("block_size %d does not fit axis %d of size %d with %d scales", block, axis, x.Shape[axis], s)
	}
	l.mode, l.sdim, l.block = "block", int(s), int(block)
	return l, nil
}

// index returns the scale index of element e of x.
func (l *quantLayout) index(e int) int {
	switch l.mode {
	case "tensor":
		return 0
	case "axis":
		return (e / l.inner) % l.dim
	}
	j := e % l.inner
	r := e / l.inner
	i := r % l.dim
	o := r / l.dim
	return (o*l.sdim+i/l.block)*l.inner + j
}

// checkZeroPoint verifies that a zero point has the scale's shape.
func checkZeroPoint(scale, zp *graph.Tensor) error {
	if zp != nil && !slices.Equal(scale.Shape, zp.Shape) && !(scale.Len() == 1 && zp.Len() == 1) {
		return fmt.Errorf("zero point of shape %v does not match scale of shape %v", zp.Shape, scale.Shape)
	}
	return nil
}

// isFloat8 reports whether dt is one of the 8-bit float types.
func isFloat8(dt graph.DType) bool {
	switch dt {
	case graph.Float8E4M3FN, graph.Float8E4M3FNUZ, graph.Float8E5M2, graph.Float8E5M2FNUZ:
		return true
	}
	return false
}

// quantTypes lists, per opset range start, the quantized types
// QuantizeLinear may produce and DequantizeLinear may read.
var quantTypes = []struct {
	since int64
	types []graph.DType
}{
	{10, []graph.DType{graph.Int8, graph.Uint8}},
	{19, []graph.DType{graph.Float8E4M3FN, graph.Float8E4M3FNUZ, graph.Float8E5M2, graph.Float8E5M2FNUZ}},
	{21, []graph.DType{graph.Int16, graph.Uint16, graph.Int4, graph.Uint4}},
}

// quantTypeAllowed reports whether dt is a quantized type at opset.
func quantTypeAllowed(dt graph.DType, opset int64) bool {
	for _, q := range quantTypes {
		if opset < q.since {
			continue
		}
		for _, t := range q.types {
			if t == dt {
				return true
			}
		}
	}
	return false
}

// checkQuantAttrs rejects attributes the node's opset does not define, so
// a model relying on newer semantics fails at Compile.
func checkQuantAttrs(since map[string]int64) func(n *graph.Node, opset int64) error {
	return func(n *graph.Node, opset int64) error {
		for name, v := range since {
			if n.HasAttr(name) && opset < v {
				return fmt.Errorf("attribute %s needs opset %d", name, v)
			}
		}
		if dt := graph.DType(n.AttrInt("output_dtype", 0)); dt != graph.Undefined && n.OpType == "QuantizeLinear" && !quantTypeAllowed(dt, opset) {
			return fmt.Errorf("output_dtype %s is not a quantized type at opset %d", dt, opset)
		}
		return nil
	}
}
