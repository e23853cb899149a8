package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// ReshapeDims resolves a Reshape target against the input shape: 0 copies
// the input's dim (unless allowzero, when it means size 0) and one -1 is
// inferred from the element count.
func ReshapeDims(in, target []int64, allowZero bool) ([]int64, error) {
	out := make([]int64, len(target))
	infer := -1
	known := int64(1)
	for i, d := range target {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dim %d, the input has rank %d", target, i, len(in))
			}
			d = in[i]
		case d < 0:
			return nil, fmt.Errorf("shape %v has negative dim %d", target, d)
		}
		out[i] = d
		known *= d
	}
	total := int64(ShapeSize(in))
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, target)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, target)
	}
	return out, nil
}

func reshapeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	target, err := TensorInts(in[1], "shape")
	if err != nil {
		return nil, err
	}
	dims, err := ReshapeDims(in[0].Shape, target, ctx.Opset >= 14 && ctx.Node.AttrInt("allowzero", 0) != 0)
	if err != nil {
		return nil, err
	}
	return one(reshaped(in[0], dims))
}

func flattenKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axis := ctx.Node.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(x.Rank())
	}
	if axis < 0 || axis > int64(x.Rank()) {
		return nil, fmt.Errorf("axis %d is out of range for rank %d", ctx.Node.AttrInt("axis", 1), x.Rank())
	}
	return one(reshaped(x, []int64{int64(ShapeSize(x.Shape[:axis])), int64(ShapeSize(x.Shape[axis:]))}))
}

// axesArg reads the axes of Squeeze/Unsqueeze: an attribute before opset
// 13, input 1 from 13 on.
func axesArg(ctx *Context, in []*graph.Tensor) ([]int64, error) {
	if ctx.Opset < 13 {
		return ctx.Node.AttrInts("axes", nil), nil
	}
	if t := optIn(in, 1); t != nil {
		return TensorInts(t, "axes")
	}
	return nil, nil
}

func squeezeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	raw, err := axesArg(ctx, in)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, x.Rank())
	if len(raw) == 0 {
		for i, d := range x.Shape {
			drop[i] = d == 1
		}
	} else {
		axes, err := NormAxes(raw, x.Rank())
		if err != nil {
			return nil, err
		}
		for _, a := range axes {
			if x.Shape[a] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.Shape[a])
			}
			drop[a] = true
		}
	}
	dims := []int64{}
	for i, d := range x.Shape {
		if !drop[i] {
			dims = append(dims, d)
		}
	}
	return one(reshaped(x, dims))
}

func unsqueezeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	raw, err := axesArg(ctx, in)
	if err != nil {
		return nil, err
	}
	r := x.Rank() + len(raw)
	axes, err := NormAxes(raw, r)
	if err != nil {
		return nil, err
	}
	ins := make([]bool, r)
	for _, a := range axes {
		ins[a] = true
	}
	dims := make([]int64, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ins[i] {
			dims = append(dims, 1)
		} else {
			dims = append(dims, x.Shape[j])
			j++
		}
	}
	return one(reshaped(x, dims))
}

func identityKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	return one(in[0])
}

// dropoutKernel is Dropout at inference: the output is the input and the
// optional mask is all ones (bool from opset 10, the input type before).
// From opset 12 a true training_mode with a nonzero ratio would drop
// random elements, which an inference engine does not do.
func dropoutKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if ctx.Opset >= 12 {
		if tm := optIn(in, 2); tm != nil {
			on, ok := tm.Data.([]bool)
			if !ok || len(on) != 1 {
				return nil, fmt.Errorf("training_mode must be one bool")
			}
			ratio := 0.5
			if r := optIn(in, 1); r != nil {
				v, err := ScalarFloat(r, "ratio")
				if err != nil {
					return nil, err
				}
				ratio = v
			}
			if on[0] && ratio != 0 {
				return nil, fmt.Errorf("training-mode dropout (ratio %g) is random and not supported for inference", ratio)
			}
		}
	}
	outs := []*graph.Tensor{x, nil}
	if len(ctx.Node.Outputs) > 1 && ctx.Node.Outputs[1] != nil {
		if ctx.Opset >= 10 {
			outs[1] = out(graph.Bool, x.Shape, typedOps[bool]{}.fill([]bool{true}, x.Len()))
		} else {
			unit, err := CastTensor(graph.MustTensor(graph.Int64, nil, []int64{1}), x.DType, true)
			if err != nil {
				return nil, err
			}
			ops, err := opsFor(unit.Data)
			if err != nil {
				return nil, err
			}
			outs[1] = out(x.DType, x.Shape, ops.fill(unit.Data, x.Len()))
		}
	}
	return outs, nil
}

// reshapeGrad gives input 0 the output gradient under the input's shape:
// the gradient of every operator that only relabels elements.
func reshapeGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if dout[0] != nil && isFloatTensor(in[0]) {
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		grads[0] = f32out(in[0].Shape, g)
	}
	return grads, nil
}

func shapeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	r := int64(in[0].Rank())
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clamp(ctx.Node.AttrInt("start", 0)), clamp(ctx.Node.AttrInt("end", r))
	dims := []int64{}
	if start < end {
		dims = append(dims, in[0].Shape[start:end]...)
	}
	return one(out(graph.Int64, []int64{int64(len(dims))}, dims))
}

func sizeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	return one(out(graph.Int64, nil, []int64{int64(in[0].Len())}))
}

func init() {
	// Reshape 1-4 took the shape as an attribute.
	Register(&Op{Type: "Reshape", MinOpset: 5, Forward: reshapeKernel, Backward: reshapeGrad})
	Register(&Op{Type: "Flatten", MinOpset: 1, Forward: flattenKernel, Backward: reshapeGrad})
	for _, r := range [][2]int64{{1, 12}, {13, 0}} {
		Register(&Op{Type: "Squeeze", MinOpset: r[0], MaxOpset: r[1], Forward: squeezeKernel, Backward: reshapeGrad})
		Register(&Op{Type: "Unsqueeze", MinOpset: r[0], MaxOpset: r[1], Forward: unsqueezeKernel, Backward: reshapeGrad})
	}
	Register(&Op{Type: "Identity", MinOpset: 1, Forward: identityKernel, Backward: reshapeGrad, Check: checkTensorValues})
	for _, r := range [][2]int64{{1, 9}, {10, 11}, {12, 0}} {
		Register(&Op{Type: "Dropout", MinOpset: r[0], MaxOpset: r[1], Forward: dropoutKernel, Backward: reshapeGrad})
	}
	Register(&Op{Type: "Shape", MinOpset: 1, Forward: shapeKernel})
	Register(&Op{Type: "Size", MinOpset: 1, Forward: sizeKernel})
}
