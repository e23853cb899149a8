package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// foldKernel folds any number of inputs with a binary op and numpy
// broadcasting (Max, Min, Sum); mean divides the sum by the count.
func foldKernel(op binOp, mean bool) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if len(in) == 0 || in[0] == nil {
			return nil, fmt.Errorf("needs at least one input")
		}
		acc := in[0]
		for i, t := range in[1:] {
			if t == nil {
				return nil, fmt.Errorf("input %d is missing", i+1)
			}
			r, err := numericBinary(acc, t, op)
			if err != nil {
				return nil, err
			}
			acc = r
		}
		if mean {
			n, err := CastTensor(graph.MustTensor(graph.Int64, nil, []int64{int64(len(in))}), acc.DType, true)
			if err != nil {
				return nil, err
			}
			r, err := numericBinary(acc, n, opDiv)
			if err != nil {
				return nil, err
			}
			acc = r
		}
		if len(in) == 1 {
			acc = reshaped(acc, acc.Shape) // a new tensor, not the input
		}
		return one(acc)
	}
}

// sumGrad gives every input the output gradient (scaled by 1/n for Mean),
// summed back to its shape.
func sumGrad(mean bool) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		grads := make([]*graph.Tensor, len(in))
		g := dout[0]
		if g == nil {
			return grads, nil
		}
		if mean {
			s := 1 / float32(len(in))
			var err error
			if g, err = gradBinary(g, graph.Scalar(s), func(a, b float32) float32 { return a * b }); err != nil {
				return nil, err
			}
		}
		for i, t := range in {
			if !isFloatTensor(t) {
				continue
			}
			r, err := Unbroadcast(g, t.Shape)
			if err != nil {
				return nil, err
			}
			grads[i] = r
		}
		return grads, nil
	}
}

// extremumGrad gives the output gradient to the input that supplied the
// maximum (minimum); on ties the first such input takes it.
func extremumGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	g := dout[0]
	if g == nil || !isFloatTensor(outs[0]) {
		return grads, nil
	}
	y, err := outs[0].Float32s()
	if err != nil {
		return nil, err
	}
	gv, err := g.Float32s()
	if err != nil {
		return nil, err
	}
	taken := make([]bool, len(y))
	for i, t := range in {
		x, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		idx := BroadcastIndex(t.Shape, outs[0].Shape)
		d := make([]float32, len(y))
		for k := range y {
			if !taken[k] && x[idx[k]] == y[k] {
				d[k] = gv[k]
				taken[k] = true
			}
		}
		if grads[i], err = Unbroadcast(f32out(outs[0].Shape, d), t.Shape); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

func init() {
	// Opsets 1-7 required equal shapes (and 1-5 had consumed_inputs);
	// broadcasting accepts all of those models.
	Register(&Op{Type: "Max", MinOpset: 1, Forward: foldKernel(opMax, false), Backward: extremumGrad})
	Register(&Op{Type: "Min", MinOpset: 1, Forward: foldKernel(opMin, false), Backward: extremumGrad})
	Register(&Op{Type: "Sum", MinOpset: 1, Forward: foldKernel(opAdd, false), Backward: sumGrad(false)})
	Register(&Op{Type: "Mean", MinOpset: 1, Forward: foldKernel(opAdd, true), Backward: sumGrad(true)})
}
