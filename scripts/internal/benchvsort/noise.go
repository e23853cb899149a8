package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// noiseSeed fixes the input noise of the float reference row.
const noiseSeed = 20250101

// withInputNoise returns a copy of an image model's input tensor with
// uniform noise of +-0.5 grey levels added to every pixel before
// normalization (in the tensor's units: 0.5 * Scale / Std[c]). The float
// model's output on such inputs is the "float + noise" reference row: how
// much an output moves under a perturbation no one would call a change of
// the image, a yardstick for the quantized models' figures.
func withInputNoise(t *graph.Tensor, pre dataset.ImagePreprocess, rng *rand.Rand) (*graph.Tensor, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	if t.Rank() != 4 {
		return nil, fmt.Errorf("image input of shape %v, want rank 4", t.Shape)
	}
	scale := pre.Scale
	if scale == 0 {
		scale = 1
	}
	var step [3]float32
	for c := range 3 {
		std := pre.Std[c]
		if std == 0 {
			std = 1
		}
		step[c] = scale / std
	}
	hw := int(t.Shape[2] * t.Shape[3]) // NCHW: [1, 3, H, W]
	out := make([]float32, len(v))
	for i, x := range v {
		c := (i / hw) % 3
		if pre.Layout == dataset.NHWC {
			c = i % 3
		}
		out[i] = x + (rng.Float32()-0.5)*step[c]
	}
	return graph.NewTensor(t.DType, append([]int64(nil), t.Shape...), out)
}
