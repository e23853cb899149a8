package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// concatAxis reads Concat's axis (default 1 before opset 4, required
// after) normalized against rank.
func concatAxis(ctx *Context, rank int) (int, error) {
	def := int64(1)
	if ctx.Opset >= 4 && !ctx.Node.HasAttr("axis") {
		return 0, fmt.Errorf("attribute axis is missing")
	}
	return NormAxis(ctx.Node.AttrInt("axis", def), rank)
}

func concatKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("needs at least one input")
	}
	if err := needInputs(in, len(in)); err != nil {
		return nil, err
	}
	if err := sameType(in); err != nil {
		return nil, err
	}
	first := in[0]
	a, err := concatAxis(ctx, first.Rank())
	if err != nil {
		return nil, err
	}
	shape := append([]int64{}, first.Shape...)
	shape[a] = 0
	srcs := make([]any, len(in))
	block := make([]int, len(in))
	for k, t := range in {
		if t.Rank() != first.Rank() {
			return nil, fmt.Errorf("input %d has rank %d, input 0 has rank %d", k, t.Rank(), first.Rank())
		}
		for d := range t.Shape {
			if d != a && t.Shape[d] != first.Shape[d] {
				return nil, fmt.Errorf("input %d has shape %v, incompatible with %v on axis %d", k, t.Shape, first.Shape, a)
			}
		}
		shape[a] += t.Shape[a]
		srcs[k] = t.Data
		block[k] = ShapeSize(t.Shape[a:])
	}
	ops, err := opsWith(ctx, first.Data)
	if err != nil {
		return nil, err
	}
	return one(out(first.DType, shape, ops.concat(srcs, ShapeSize(first.Shape[:a]), block)))
}

// concatGrad splits the output gradient along the axis.
func concatGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if dout[0] == nil || !isFloatTensor(in[0]) {
		return grads, nil
	}
	a, err := concatAxis(ctx, in[0].Rank())
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(in))
	for k, t := range in {
		sizes[k] = t.Shape[a]
	}
	parts, err := splitTensor(dout[0], a, sizes)
	if err != nil {
		return nil, err
	}
	for k, p := range parts {
		if grads[k], err = CastTensor(p, graph.Float, true); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

// splitTensor cuts t along axis into pieces of the given sizes.
func splitTensor(t *graph.Tensor, axis int, sizes []int64) ([]*graph.Tensor, error) {
	return splitTensorIn(nil, t, axis, sizes)
}

// splitTensorIn is splitTensor with float32 pieces in buffers from ctx.
func splitTensorIn(ctx *Context, t *graph.Tensor, axis int, sizes []int64) ([]*graph.Tensor, error) {
	var total int64
	for _, s := range sizes {
		if s < 0 {
			return nil, fmt.Errorf("split sizes %v has a negative entry", sizes)
		}
		total += s
	}
	if total != t.Shape[axis] {
		return nil, fmt.Errorf("split sizes %v do not add up to dim %d of shape %v", sizes, axis, t.Shape)
	}
	st := Strides(t.Shape)
	parts := make([]*graph.Tensor, len(sizes))
	var start int64
	for k, s := range sizes {
		shape := append([]int64{}, t.Shape...)
		shape[axis] = s
		p, err := (&view{shape: shape, strides: st, base: int(start) * st[axis]}).applyIn(ctx, t)
		if err != nil {
			return nil, err
		}
		parts[k] = p
		start += s
	}
	return parts, nil
}

// splitSizes resolves Split's piece sizes: the split attribute (opsets
// 1-12; in opset 1 also input 1), the split input (13+), num_outputs (18+)
// or an equal split into the node's outputs. With num_outputs the last
// piece may be smaller.
func splitSizes(ctx *Context, in []*graph.Tensor, dim int64) ([]int64, error) {
	nOut := int64(len(ctx.Node.Outputs))
	var split []int64
	var err error
	switch {
	case ctx.Opset < 13:
		split = ctx.Node.AttrInts("split", nil)
		if split == nil && ctx.Opset < 2 && optIn(in, 1) != nil {
			split, err = TensorInts(in[1], "split")
		}
	case optIn(in, 1) != nil:
		split, err = TensorInts(in[1], "split")
	}
	if err != nil {
		return nil, err
	}
	if split != nil {
		if int64(len(split)) != nOut {
			return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), nOut)
		}
		return split, nil
	}
	if ctx.Opset >= 18 && ctx.Node.HasAttr("num_outputs") {
		n := ctx.Node.AttrInt("num_outputs", 0)
		if n != nOut || n <= 0 {
			return nil, fmt.Errorf("num_outputs %d does not match the %d outputs", n, nOut)
		}
		chunk := (dim + n - 1) / n
		sizes := make([]int64, n)
		rest := dim
		for i := range sizes {
			sizes[i] = min(chunk, max(rest, 0))
			rest -= sizes[i]
		}
		return sizes, nil
	}
	if nOut == 0 || dim%nOut != 0 {
		return nil, fmt.Errorf("dim %d cannot be split evenly into %d outputs", dim, nOut)
	}
	sizes := make([]int64, nOut)
	for i := range sizes {
		sizes[i] = dim / nOut
	}
	return sizes, nil
}

func splitKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	a, err := NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	sizes, err := splitSizes(ctx, in, x.Shape[a])
	if err != nil {
		return nil, err
	}
	return splitTensorIn(ctx, x, a, sizes)
}

// splitGrad concatenates the output gradients (zeros for unused outputs).
func splitGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if !isFloatTensor(in[0]) {
		return grads, nil
	}
	a, err := NormAxis(ctx.Node.AttrInt("axis", 0), in[0].Rank())
	if err != nil {
		return nil, err
	}
	srcs := make([]any, len(outs))
	block := make([]int, len(outs))
	for k, o := range outs {
		g := dout[k]
		if g == nil {
			g = graph.Zeros(graph.Float, o.Shape)
		}
		f, err := g.Float32s()
		if err != nil {
			return nil, err
		}
		srcs[k] = f
		block[k] = ShapeSize(o.Shape[a:])
	}
	data := typedOps[float32]{}.concat(srcs, ShapeSize(in[0].Shape[:a]), block)
	grads[0] = f32out(in[0].Shape, data.([]float32))
	return grads, nil
}

func init() {
	Register(&Op{Type: "Concat", MinOpset: 1, Forward: concatKernel, Backward: concatGrad})
	for _, r := range [][2]int64{{1, 12}, {13, 17}, {18, 0}} {
		Register(&Op{Type: "Split", MinOpset: r[0], MaxOpset: r[1], Forward: splitKernel, Backward: splitGrad})
	}
}
