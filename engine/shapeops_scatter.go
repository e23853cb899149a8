package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// scatterTargets returns, for every element of updates, the offset of the
// data element it writes: ScatterElements along axis (indices shaped like
// updates).
func scatterElementsTargets(ctx *Context, data, ind, upd *graph.Tensor) ([]int, error) {
	a, err := NormAxis(ctx.Node.AttrInt("axis", 0), data.Rank())
	if err != nil {
		return nil, err
	}
	if ind.Rank() != data.Rank() || !slices.Equal(ind.Shape, upd.Shape) {
		return nil, fmt.Errorf("indices %v and updates %v must have one shape of the data's rank %d", ind.Shape, upd.Shape, data.Rank())
	}
	iv, err := TensorInts(ind, "indices")
	if err != nil {
		return nil, err
	}
	st := Strides(data.Shape)
	vst := append([]int{}, st...)
	vst[a] = 0
	pos := stridedIndex(ind.Shape, vst, 0)
	n := data.Shape[a]
	out := make([]int, len(iv))
	for i, j := range iv {
		if j < -n || j >= n {
			return nil, fmt.Errorf("index %d is out of range for axis %d of size %d", j, a, n)
		}
		if j < 0 {
			j += n
		}
		out[i] = pos[i] + int(j)*st[a]
	}
	return out, nil
}

// scatterNDTargets maps ScatterND's updates: each index tuple (last dim of
// indices) selects a slice of data that the matching updates slice fills.
func scatterNDTargets(ctx *Context, data, ind, upd *graph.Tensor) ([]int, error) {
	iv, err := TensorInts(ind, "indices")
	if err != nil {
		return nil, err
	}
	if ind.Rank() < 1 {
		return nil, fmt.Errorf("indices must have rank 1 or more")
	}
	k := int(ind.Shape[ind.Rank()-1])
	if k > data.Rank() {
		return nil, fmt.Errorf("index tuples of length %d exceed data rank %d", k, data.Rank())
	}
	want := append(append([]int64{}, ind.Shape[:ind.Rank()-1]...), data.Shape[k:]...)
	if !slices.Equal(upd.Shape, want) {
		return nil, fmt.Errorf("updates of shape %v, want %v", upd.Shape, want)
	}
	st := Strides(data.Shape)
	inner := ShapeSize(data.Shape[k:])
	tuples := ShapeSize(ind.Shape[:ind.Rank()-1])
	out := make([]int, 0, tuples*inner)
	for t := 0; t < tuples; t++ {
		off := 0
		for d := 0; d < k; d++ {
			j, n := iv[t*k+d], data.Shape[d]
			if j < -n || j >= n {
				return nil, fmt.Errorf("index %d is out of range for dim %d of size %d", j, d, n)
			}
			if j < 0 {
				j += n
			}
			off += int(j) * st[d]
		}
		for i := 0; i < inner; i++ {
			out = append(out, off+i)
		}
	}
	return out, nil
}

// scatterKernel copies data and writes updates at the targets, combining
// with the existing value by the reduction attribute (none, add, mul,
// max, min).
func scatterKernel(targets func(*Context, *graph.Tensor, *graph.Tensor, *graph.Tensor) ([]int, error)) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		data, ind, upd := in[0], in[1], in[2]
		if upd.DType != data.DType {
			return nil, fmt.Errorf("updates are %s but data is %s", upd.DType, data.DType)
		}
		idx, err := targets(ctx, data, ind, upd)
		if err != nil {
			return nil, err
		}
		red := ctx.Node.AttrString("reduction", "none")
		if red == "none" {
			ops, err := opsFor(data.Data)
			if err != nil {
				return nil, err
			}
			return one(out(data.DType, data.Shape, ops.put(data.Data, idx, upd.Data)))
		}
		f, ok := scatterReductions[red]
		if !ok {
			return nil, fmt.Errorf("reduction %q is not supported", red)
		}
		d, err := toFloat64s(data)
		if err != nil {
			return nil, err
		}
		u, err := toFloat64s(upd)
		if err != nil {
			return nil, err
		}
		d = append([]float64(nil), d...)
		for i, j := range idx {
			d[j] = f(d[j], u[i])
		}
		return oneErr(castFloats(d, data.Shape, data.DType, true))
	}
}

var scatterReductions = map[string]func(a, b float64) float64{
	"add": func(a, b float64) float64 { return a + b },
	"mul": func(a, b float64) float64 { return a * b },
	"max": math.Max,
	"min": math.Min,
}

func checkScatter(n *graph.Node) error {
	r := n.AttrString("reduction", "none")
	if _, ok := scatterReductions[r]; !ok && r != "none" {
		return fmt.Errorf("reduction %q must be none, add, mul, max or min", r)
	}
	return nil
}

func init() {
	Register(&Op{Type: "Scatter", MinOpset: 9, MaxOpset: 10, Forward: scatterKernel(scatterElementsTargets)})
	Register(&Op{Type: "ScatterElements", MinOpset: 11, Forward: scatterKernel(scatterElementsTargets), Check: checkScatter})
	Register(&Op{Type: "ScatterND", MinOpset: 11, Forward: scatterKernel(scatterNDTargets), Check: checkScatter})
}
