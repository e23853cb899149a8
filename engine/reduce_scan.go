package engine

import (
	"fmt"
	"sort"

	"github.com/onnxq/onnxq/graph"
)

// cumSumKernel is CumSum(x, axis) with the exclusive and reverse
// attributes; integers are summed exactly in int64, floats in float64.
func cumSumKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	av, err := TensorInts(in[1], "axis")
	if err != nil || len(av) != 1 {
		return nil, fmt.Errorf("axis must be one integer")
	}
	a, err := NormAxis(av[0], x.Rank())
	if err != nil {
		return nil, err
	}
	excl, rev := ctx.Node.AttrInt("exclusive", 0) != 0, ctx.Node.AttrInt("reverse", 0) != 0
	outer, n, inner := ShapeSize(x.Shape[:a]), int(x.Shape[a]), ShapeSize(x.Shape[a+1:])
	if x.DType.IsInteger() {
		v, err := x.Int64s()
		if err != nil {
			return nil, err
		}
		return oneErr(castInts(scan(v, outer, n, inner, excl, rev), x.Shape, x.DType))
	}
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	return oneErr(castFloats(scan(v, outer, n, inner, excl, rev), x.Shape, x.DType, true))
}

// scan computes running sums along the middle dim of outer×n×inner.
func scan[T int64 | float64](v []T, outer, n, inner int, excl, rev bool) []T {
	r := make([]T, len(v))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var acc T
			for s := 0; s < n; s++ {
				j := s
				if rev {
					j = n - 1 - s
				}
				k := (o*n+j)*inner + i
				if excl {
					r[k] = acc
					acc += v[k]
				} else {
					acc += v[k]
					r[k] = acc
				}
			}
		}
	}
	return r
}

// cumSumGrad: the gradient of a running sum is the running sum of the
// gradient in the opposite direction, with the same exclusivity.
func cumSumGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, 2)
	if dout[0] == nil || !isFloatTensor(in[0]) {
		return grads, nil
	}
	av, err := TensorInts(in[1], "axis")
	if err != nil || len(av) != 1 {
		return nil, fmt.Errorf("axis must be one integer")
	}
	x := in[0]
	a, err := NormAxis(av[0], x.Rank())
	if err != nil {
		return nil, err
	}
	g, err := toFloat64s(dout[0])
	if err != nil {
		return nil, err
	}
	excl, rev := ctx.Node.AttrInt("exclusive", 0) != 0, ctx.Node.AttrInt("reverse", 0) != 0
	d := scan(g, ShapeSize(x.Shape[:a]), int(x.Shape[a]), ShapeSize(x.Shape[a+1:]), excl, !rev)
	if grads[0], err = castFloats(d, x.Shape, graph.Float, true); err != nil {
		return nil, err
	}
	return grads, nil
}

// topKKernel is TopK: the k largest (or smallest) elements along axis and
// their int64 indices, ordered by value; equal values keep index order.
func topKKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	k := ctx.Node.AttrInt("k", 0)
	if ctx.Opset >= 10 {
		if err := needInputs(in, 2); err != nil {
			return nil, err
		}
		kv, err := TensorInts(in[1], "K")
		if err != nil || len(kv) != 1 {
			return nil, fmt.Errorf("K must be one integer")
		}
		k = kv[0]
	}
	a, err := NormAxis(ctx.Node.AttrInt("axis", -1), x.Rank())
	if err != nil {
		return nil, err
	}
	if k < 0 || k > x.Shape[a] {
		return nil, fmt.Errorf("k %d is out of range for axis %d of size %d", k, a, x.Shape[a])
	}
	largest := ctx.Node.AttrInt("largest", 1) != 0
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	outer, n, inner := ShapeSize(x.Shape[:a]), int(x.Shape[a]), ShapeSize(x.Shape[a+1:])
	shape := append([]int64{}, x.Shape...)
	shape[a] = k
	src := make([]int, 0, outer*int(k)*inner)
	ind := make([]int64, 0, outer*int(k)*inner)
	order := make([]int, n)
	pick := make([][]int, outer*inner)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for j := range order {
				order[j] = j
			}
			at := func(j int) float64 { return v[(o*n+j)*inner+i] }
			sort.SliceStable(order, func(p, q int) bool {
				if largest {
					return at(order[p]) > at(order[q])
				}
				return at(order[p]) < at(order[q])
			})
			pick[o*inner+i] = append([]int(nil), order[:k]...)
		}
	}
	for o := 0; o < outer; o++ {
		for j := 0; j < int(k); j++ {
			for i := 0; i < inner; i++ {
				p := pick[o*inner+i][j]
				src = append(src, (o*n+p)*inner+i)
				ind = append(ind, int64(p))
			}
		}
	}
	vals, err := takeData(x, src, shape)
	if err != nil {
		return nil, err
	}
	return []*graph.Tensor{vals, out(graph.Int64, shape, ind)}, nil
}

// uniqueKernel is Unique: the distinct elements (or slices along axis),
// sorted ascending or in order of first occurrence, with the first-
// occurrence indices, the inverse indices and the counts.
func uniqueKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	shape := []int64{int64(x.Len())}
	a := 0
	if ctx.Node.HasAttr("axis") {
		shape = x.Shape
		var err error
		if a, err = NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank()); err != nil {
			return nil, err
		}
	}
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	outer, n, inner := ShapeSize(shape[:a]), int(shape[a]), ShapeSize(shape[a+1:])
	slice := func(j int) []float64 {
		s := make([]float64, 0, outer*inner)
		for o := 0; o < outer; o++ {
			s = append(s, v[(o*n+j)*inner:(o*n+j+1)*inner]...)
		}
		return s
	}
	cmp := func(p, q []float64) int {
		for i := range p {
			if p[i] < q[i] {
				return -1
			}
			if p[i] > q[i] {
				return 1
			}
		}
		return 0
	}
	var firsts []int // first occurrence of each distinct slice
	var keys [][]float64
	inverse := make([]int64, n)
	for j := 0; j < n; j++ {
		s := slice(j)
		found := -1
		for u, k := range keys {
			if cmp(k, s) == 0 {
				found = u
				break
			}
		}
		if found < 0 {
			found = len(keys)
			keys = append(keys, s)
			firsts = append(firsts, j)
		}
		inverse[j] = int64(found)
	}
	order := make([]int, len(keys)) // output position -> distinct id
	for i := range order {
		order[i] = i
	}
	if ctx.Node.AttrInt("sorted", 1) != 0 {
		sort.SliceStable(order, func(p, q int) bool { return cmp(keys[order[p]], keys[order[q]]) < 0 })
	}
	rank := make([]int64, len(order)) // distinct id -> output position
	for p, u := range order {
		rank[u] = int64(p)
	}
	counts := make([]int64, len(order))
	for j := range inverse {
		inverse[j] = rank[inverse[j]]
		counts[inverse[j]]++
	}
	idx := make([]int64, len(order))
	src := make([]int, 0, outer*len(order)*inner)
	for p, u := range order {
		idx[p] = int64(firsts[u])
	}
	for o := 0; o < outer; o++ {
		for _, u := range order {
			base := (o*n + firsts[u]) * inner
			for i := 0; i < inner; i++ {
				src = append(src, base+i)
			}
		}
	}
	yshape := append([]int64{}, shape...)
	yshape[a] = int64(len(order))
	y, err := takeData(reshaped(x, shape), src, yshape)
	if err != nil {
		return nil, err
	}
	m := int64(len(order))
	return []*graph.Tensor{y, out(graph.Int64, []int64{m}, idx), out(graph.Int64, []int64{int64(n)}, inverse), out(graph.Int64, []int64{m}, counts)}, nil
}

func init() {
	Register(&Op{Type: "CumSum", MinOpset: 11, Forward: cumSumKernel, Backward: cumSumGrad})
	Register(&Op{Type: "TopK", MinOpset: 1, MaxOpset: 9, Forward: topKKernel})
	Register(&Op{Type: "TopK", MinOpset: 10, Forward: topKKernel})
	Register(&Op{Type: "Unique", MinOpset: 11, Forward: uniqueKernel})
}
