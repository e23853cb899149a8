package engine

import (
	"fmt"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// loopKernel is Loop with tensor values: inputs (M, cond, v_initial...);
// the body takes (iteration_num, cond, v...) and returns (cond, v...,
// scan_outputs...). It runs while i < M (when M is given) and cond holds
// (when cond is given), then returns the final v and each scan output
// stacked along a new first axis.
func loopKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	body := ctx.Node.Subgraphs["body"]
	if body == nil {
		return nil, fmt.Errorf("attribute body is missing")
	}
	nv := len(in) - 2
	if nv < 0 || len(body.Inputs) != nv+2 {
		return nil, fmt.Errorf("body takes %d inputs, the node carries %d values", len(body.Inputs), max(nv, 0))
	}
	k := len(body.Outputs) - 1 - nv
	if k < 0 || len(ctx.Node.Outputs) != nv+k {
		return nil, fmt.Errorf("body has %d outputs for %d carried values and %d node outputs", len(body.Outputs), nv, len(ctx.Node.Outputs))
	}
	maxTrip, hasMax := int64(0), in[0] != nil
	if hasMax {
		v, err := TensorInts(in[0], "M")
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("M must be one integer")
		}
		maxTrip = v[0]
	}
	cond := true
	if in[1] != nil {
		c, err := loopCond(in[1])
		if err != nil {
			return nil, err
		}
		cond = c
	}
	v := append([]*graph.Tensor(nil), in[2:]...)
	scans := make([][]*graph.Tensor, k)
	for i := int64(0); cond && (!hasMax || i < maxTrip); i++ {
		args := append([]*graph.Tensor{
			out(graph.Int64, nil, []int64{i}),
			out(graph.Bool, nil, []bool{cond}),
		}, v...)
		res, err := ctx.RunSubgraph(body, args)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		if cond, err = loopCond(res[0]); err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		copy(v, res[1:1+nv])
		for j := range scans {
			scans[j] = append(scans[j], res[1+nv+j])
		}
	}
	outs := append([]*graph.Tensor(nil), v...)
	for j, s := range scans {
		st, err := stackTensors(s, body.Outputs[1+nv+j])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", j, err)
		}
		outs = append(outs, st)
	}
	return outs, nil
}

func loopCond(t *graph.Tensor) (bool, error) {
	b, ok := t.Data.([]bool)
	if !ok || len(b) != 1 {
		return false, fmt.Errorf("loop condition must be one bool, got %s %v", t.DType, t.Shape)
	}
	return b[0], nil
}

// stackTensors joins same-shaped tensors along a new first axis. With no
// tensors the result has shape [0, ...] using the value's declared type
// and static dims (unknown dims become 0).
func stackTensors(ts []*graph.Tensor, decl *graph.Value) (*graph.Tensor, error) {
	if len(ts) == 0 {
		dt := decl.ElemType()
		if dt == graph.Undefined {
			dt = graph.Float
		}
		dims, _ := decl.Shape()
		shape := []int64{0}
		for _, d := range dims {
			shape = append(shape, max(d, 0))
		}
		return graph.Zeros(dt, shape), nil
	}
	first := ts[0]
	srcs := make([]any, len(ts))
	for i, t := range ts {
		if t.DType != first.DType || !slices.Equal(t.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d gives %s %v, iteration 0 gave %s %v", i, t.DType, t.Shape, first.DType, first.Shape)
		}
		srcs[i] = t.Data
	}
	ops, err := opsFor(first.Data)
	if err != nil {
		return nil, err
	}
	block := make([]int, len(ts))
	for i := range block {
		block[i] = first.Len()
	}
	shape := append([]int64{int64(len(ts))}, first.Shape...)
	return out(first.DType, shape, ops.concat(srcs, 1, block)), nil
}

func checkLoop(n *graph.Node) error {
	if err := checkTensorValues(n); err != nil {
		return err
	}
	body := n.Subgraphs["body"]
	if body == nil {
		return fmt.Errorf("attribute body is missing")
	}
	for _, v := range append(append([]*graph.Value{}, body.Inputs...), body.Outputs...) {
		if v.Type != nil && v.Type.Value != nil && v.Type.GetTensorType() == nil {
			return fmt.Errorf("body value %q is not a tensor (sequence and optional values are not supported)", v.Name)
		}
	}
	return nil
}

func init() {
	// Opsets 13 and 16 extend Loop to sequences and optionals; with
	// tensors the semantics are those of opset 11 (and of 1, where the
	// body's iteration count and condition are the same).
	Register(&Op{Type: "Loop", MinOpset: 1, Forward: loopKernel, Check: checkLoop})
}
