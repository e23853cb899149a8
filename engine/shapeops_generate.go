package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// oneHotKernel is OneHot(indices, depth, values=[off, on]): a new axis
// (default -1) of size depth holding on at each index (negative indices
// count from the end; out-of-range ones give all off).
func oneHotKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, err
	}
	ind, err := toFloat64s(in[0])
	if err != nil {
		return nil, err
	}
	dv, err := ScalarFloat(in[1], "depth")
	if err != nil {
		return nil, err
	}
	depth := int64(dv)
	if depth <= 0 {
		return nil, fmt.Errorf("depth %d must be positive", depth)
	}
	vals := in[2]
	if vals.Len() != 2 {
		return nil, fmt.Errorf("values must hold [off, on], has shape %v", vals.Shape)
	}
	r := in[0].Rank() + 1
	a, err := NormAxis(ctx.Node.AttrInt("axis", -1), r)
	if err != nil {
		return nil, err
	}
	shape := append(append(append([]int64{}, in[0].Shape[:a]...), depth), in[0].Shape[a:]...)
	if err := checkSize(shape); err != nil {
		return nil, err
	}
	outer, inner := ShapeSize(in[0].Shape[:a]), ShapeSize(in[0].Shape[a:])
	idx := make([]int, ShapeSize(shape)) // 0 reads off, 1 reads on
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			j := int64(ind[o*inner+i])
			if j < 0 {
				j += depth
			}
			if j >= 0 && j < depth {
				idx[(o*int(depth)+int(j))*inner+i] = 1
			}
		}
	}
	return oneErr(takeData(vals, idx, shape))
}

// eyeLikeKernel is EyeLike: a 2-D tensor shaped like the input with ones
// on diagonal k, of type dtype (default: the input's).
func eyeLikeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() != 2 {
		return nil, fmt.Errorf("input must be 2-D, has shape %v", x.Shape)
	}
	dt := graph.DType(ctx.Node.AttrInt("dtype", int64(x.DType)))
	k := ctx.Node.AttrInt("k", 0)
	v := make([]int64, x.Len())
	rows, cols := x.Shape[0], x.Shape[1]
	for i := int64(0); i < rows; i++ {
		if j := i + k; j >= 0 && j < cols {
			v[i*cols+j] = 1
		}
	}
	return oneErr(castInts(v, x.Shape, dt))
}

// nonZeroKernel is NonZero: the int64 coordinates [rank, count] of the
// nonzero elements in row-major order.
func nonZeroKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	nz, err := CastTensor(x, graph.Bool, true)
	if err != nil {
		return nil, err
	}
	var pos []int
	for i, b := range nz.Data.([]bool) {
		if b {
			pos = append(pos, i)
		}
	}
	r := x.Rank()
	coords := make([]int64, r*len(pos))
	for k, e := range pos {
		for d := r - 1; d >= 0; d-- {
			coords[d*len(pos)+k] = int64(e % int(x.Shape[d]))
			e /= int(x.Shape[d])
		}
	}
	return one(out(graph.Int64, []int64{int64(r), int64(len(pos))}, coords))
}

func init() {
	Register(&Op{Type: "OneHot", MinOpset: 9, Forward: oneHotKernel})
	Register(&Op{Type: "EyeLike", MinOpset: 9, Forward: eyeLikeKernel})
	Register(&Op{Type: "NonZero", MinOpset: 9, Forward: nonZeroKernel})
}
