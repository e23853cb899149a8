package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// Layout operators that move elements without arithmetic, as index plans
// (their gradient is the scatter of planGrad): DepthToSpace,
// SpaceToDepth, ReverseSequence, Trilu, Compress.

// permutedView returns the offsets of reshaping shape to view, permuting
// its dims by perm and reading row-major: one reshape-transpose-reshape.
func permutedView(dims []int64, perm []int, shape []int64) *view {
	st := Strides(dims)
	pshape := make([]int64, len(perm))
	pst := make([]int, len(perm))
	for i, p := range perm {
		pshape[i] = dims[p]
		pst[i] = st[p]
	}
	// The permuted dims, read row-major, are the output's elements in
	// order; the view walks them and is then labelled with shape.
	return &view{shape: shape, idx: stridedIndex(pshape, pst, 0)}
}

// blockDims reads blocksize and checks a 4-D NCHW input.
func blockDims(ctx *Context, x *graph.Tensor) (n, c, h, w, b int64, err error) {
	if x.Rank() != 4 {
		return 0, 0, 0, 0, 0, fmt.Errorf("input must be 4-D NCHW, has shape %v", x.Shape)
	}
	b = ctx.Node.AttrInt("blocksize", 0)
	if b <= 0 {
		return 0, 0, 0, 0, 0, fmt.Errorf("blocksize %d must be positive", b)
	}
	return x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], b, nil
}

func depthToSpacePlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	n, c, h, w, b, err := blockDims(ctx, in[0])
	if err != nil {
		return nil, err
	}
	if c%(b*b) != 0 {
		return nil, fmt.Errorf("channels %d are not a multiple of blocksize² %d", c, b*b)
	}
	oc := c / (b * b)
	shape := []int64{n, oc, h * b, w * b}
	if ctx.Node.AttrString("mode", "DCR") == "CRD" {
		return permutedView([]int64{n, oc, b, b, h, w}, []int{0, 1, 4, 2, 5, 3}, shape), nil
	}
	return permutedView([]int64{n, b, b, oc, h, w}, []int{0, 3, 4, 1, 5, 2}, shape), nil
}

func spaceToDepthPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	n, c, h, w, b, err := blockDims(ctx, in[0])
	if err != nil {
		return nil, err
	}
	if h%b != 0 || w%b != 0 {
		return nil, fmt.Errorf("spatial dims %dx%d are not multiples of blocksize %d", h, w, b)
	}
	shape := []int64{n, c * b * b, h / b, w / b}
	return permutedView([]int64{n, c, h / b, b, w / b, b}, []int{0, 3, 5, 1, 2, 4}, shape), nil
}

func checkDepthToSpace(n *graph.Node) error {
	switch m := n.AttrString("mode", "DCR"); m {
	case "DCR", "CRD":
		return nil
	default:
		return fmt.Errorf("mode %q must be DCR or CRD", m)
	}
}

// reverseSequencePlan reverses, for every batch entry b, the first
// sequence_lens[b] elements along time_axis.
func reverseSequencePlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	ta, err := NormAxis(ctx.Node.AttrInt("time_axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	ba, err := NormAxis(ctx.Node.AttrInt("batch_axis", 1), x.Rank())
	if err != nil {
		return nil, err
	}
	lens, err := TensorInts(in[1], "sequence_lens")
	if err != nil {
		return nil, err
	}
	if len(lens) != int(x.Shape[ba]) {
		return nil, fmt.Errorf("sequence_lens has %d entries for batch size %d", len(lens), x.Shape[ba])
	}
	st := Strides(x.Shape)
	idx := make([]int, x.Len())
	pos := make([]int64, x.Rank())
	for e := range idx {
		rem := e
		for d := x.Rank() - 1; d >= 0; d-- {
			pos[d] = int64(rem % int(x.Shape[d]))
			rem /= int(x.Shape[d])
		}
		l := lens[pos[ba]]
		if l < 0 || l > x.Shape[ta] {
			return nil, fmt.Errorf("sequence length %d is out of range for time dim %d", l, x.Shape[ta])
		}
		if t := pos[ta]; t < l {
			pos[ta] = l - 1 - t
		}
		off := 0
		for d, p := range pos {
			off += int(p) * st[d]
		}
		idx[e] = off
	}
	return &view{shape: x.Shape, idx: idx}, nil
}

// trilu zeroes the elements above (upper=0) or below (upper=1) the k-th
// diagonal of the last two dims.
func triluKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input must have rank 2 or more, has shape %v", x.Shape)
	}
	var k int64
	if t := optIn(in, 1); t != nil {
		v, err := TensorInts(t, "k")
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("k must be one integer")
		}
		k = v[0]
	}
	upper := ctx.Node.AttrInt("upper", 1) != 0
	rows, cols := int(x.Shape[x.Rank()-2]), int(x.Shape[x.Rank()-1])
	keep := make([]bool, x.Len())
	for e := range keep {
		i, j := int64((e/cols)%rows), int64(e%cols)
		if upper {
			keep[e] = j-i >= k
		} else {
			keep[e] = j-i <= k
		}
	}
	return oneErr(maskData(x, keep))
}

// maskData keeps the elements where keep is true and zeroes the others.
func maskData(x *graph.Tensor, keep []bool) (*graph.Tensor, error) {
	ops, err := opsFor(x.Data)
	if err != nil {
		return nil, err
	}
	zero := graph.Zeros(x.DType, []int64{1})
	all := make([]int, len(keep))
	for i := range all {
		all[i] = i
	}
	zi := make([]int, len(keep))
	return out(x.DType, x.Shape, ops.where(keep, all, x.Data, all, zero.Data, zi)), nil
}

// compressPlan keeps the slices along axis (or the elements of the
// flattened input, without axis) whose condition entry is true.
func compressPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	cond, ok := in[1].Data.([]bool)
	if !ok {
		return nil, fmt.Errorf("condition must be bool, got %s", in[1].DType)
	}
	shape := []int64{int64(x.Len())}
	if ctx.Node.HasAttr("axis") {
		shape = x.Shape
	}
	a := 0
	if ctx.Node.HasAttr("axis") {
		var err error
		if a, err = NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank()); err != nil {
			return nil, err
		}
	}
	if len(cond) > int(shape[a]) {
		return nil, fmt.Errorf("condition has %d entries for dim %d", len(cond), shape[a])
	}
	var sel []int64
	for i, c := range cond {
		if c {
			sel = append(sel, int64(i))
		}
	}
	outer, inner := ShapeSize(shape[:a]), ShapeSize(shape[a+1:])
	idx := make([]int, 0, outer*len(sel)*inner)
	for o := 0; o < outer; o++ {
		for _, j := range sel {
			base := (o*int(shape[a]) + int(j)) * inner
			for i := 0; i < inner; i++ {
				idx = append(idx, base+i)
			}
		}
	}
	oshape := append([]int64{}, shape...)
	oshape[a] = int64(len(sel))
	return &view{shape: oshape, idx: idx}, nil
}

func init() {
	for _, e := range []struct {
		name     string
		min, max int64
		plan     indexPlan
		check    func(*graph.Node) error
	}{
		{"DepthToSpace", 1, 0, depthToSpacePlan, checkDepthToSpace},
		{"SpaceToDepth", 1, 0, spaceToDepthPlan, nil},
		{"ReverseSequence", 10, 0, reverseSequencePlan, nil},
		{"Compress", 9, 0, compressPlan, nil},
	} {
		Register(&Op{Type: e.name, MinOpset: e.min, MaxOpset: e.max, Forward: planKernel(e.plan), Backward: planGrad(e.plan), Check: e.check})
	}
	Register(&Op{Type: "Trilu", MinOpset: 14, Forward: triluKernel})
}
