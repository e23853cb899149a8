package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// dynamicQuantizeKernel is DynamicQuantizeLinear, following its function
// body in float32: the range [min(x), max(x)] widened to include 0 gives
// scale = range / 255 and zero point = round(clip(-min / scale, 0, 255));
// y = QuantizeLinear(x, scale, zero point) to uint8. An all-zero input
// (range 0, where the function body divides 0 by 0) gives scale 0, zero
// point 0 and y = 0.
func dynamicQuantizeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x, ok := in[0].Data.([]float32)
	if !ok {
		return nil, fmt.Errorf("input must be float32, got %s", in[0].DType)
	}
	var lo, hi float32
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	scale := (hi - lo) / 255
	y := make([]uint8, len(x))
	var zp uint8
	if scale > 0 {
		z := float32(0) - lo/scale
		zp = uint8(math.RoundToEven(float64(min(max(z, 0), 255))))
		for i, v := range x {
			y[i] = uint8(quant.Quantize(v, scale, int64(zp), graph.Uint8))
		}
	}
	return []*graph.Tensor{
		out(graph.Uint8, in[0].Shape, y),
		f32out(nil, []float32{scale}),
		out(graph.Uint8, nil, []uint8{zp}),
	}, nil
}

func init() {
	Register(&Op{Type: "DynamicQuantizeLinear", MinOpset: 11, Forward: dynamicQuantizeKernel})
}
