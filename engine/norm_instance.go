package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "InstanceNormalization", MinOpset: 1, Forward: instanceNormForward, Backward: instanceNormBackward})
}

// instanceNormInputs reads X [N, C, D...], scale [C] and B [C].
func instanceNormInputs(in []*graph.Tensor) (x, scale, bias []float32, planes, c, size int, err error) {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		err = fmt.Errorf("InstanceNormalization needs inputs X, scale and B")
		return
	}
	if planes, size, _, err = globalPlanes(in[0]); err != nil {
		return
	}
	c = int(in[0].Shape[1])
	if in[1].Len() != c || in[2].Len() != c {
		err = fmt.Errorf("scale %v and B %v must have %d elements (the channels of X %v)", in[1].Shape, in[2].Shape, c, in[0].Shape)
		return
	}
	if x, err = floatIn(in[0], "input X"); err != nil {
		return
	}
	if scale, err = floatIn(in[1], "scale"); err != nil {
		return
	}
	bias, err = floatIn(in[2], "B")
	return
}

// instanceNormForward normalizes every (image, channel) plane:
// y = scale·(x - mean)/sqrt(var + epsilon) + B.
func instanceNormForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	x, scale, bias, planes, c, size, err := instanceNormInputs(in)
	if err != nil {
		return nil, err
	}
	mean, inv := rowStats(x, planes, size, float64(ctx.Node.AttrFloat("epsilon", 1e-5)))
	y := make([]float32, len(x))
	ParallelFor(planes, max(1, 4096/max(1, size)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			a := inv[r] * scale[r%c]
			b := bias[r%c] - mean[r]*a
			out := y[r*size : (r+1)*size]
			for i, v := range x[r*size : (r+1)*size] {
				out[i] = v*a + b
			}
		}
	})
	return []*graph.Tensor{floatOut(in[0].DType, in[0].Shape, y)}, nil
}

// instanceNormBackward is the Gradient with respect to X, scale and B.
func instanceNormBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(dout) == 0 || dout[0] == nil {
		return make([]*graph.Tensor, len(in)), nil
	}
	x, scale, _, planes, c, size, err := instanceNormInputs(in)
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != len(x) {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dout[0].Shape, in[0].Shape)
	}
	mean, inv := rowStats(x, planes, size, float64(ctx.Node.AttrFloat("epsilon", 1e-5)))
	dx := make([]float32, len(x))
	dscale, dbias := make([]float32, c), make([]float32, c)
	g := make([]float32, size)
	for r := 0; r < planes; r++ {
		row, dyr := x[r*size:(r+1)*size], dy[r*size:(r+1)*size]
		s := scale[r%c]
		var ds, db float32
		for i, v := range dyr {
			g[i] = v * s
			ds += v * (row[i] - mean[r]) * inv[r]
			db += v
		}
		dscale[r%c] += ds
		dbias[r%c] += db
		rowNormBackward(row, g, dx[r*size:(r+1)*size], mean[r], inv[r], 0, 0)
	}
	return []*graph.Tensor{
		floatOut(in[0].DType, in[0].Shape, dx),
		floatOut(in[1].DType, in[1].Shape, dscale),
		floatOut(in[2].DType, in[2].Shape, dbias),
	}, nil
}
