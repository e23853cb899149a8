package qat

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// autoTemperatureSamples is how many samples AutoTemperature looks at.
const autoTemperatureSamples = 64

// autoTemperatureSpread is the logit spread (row standard deviation)
// that the automatic temperature scales the logits to: about that of a
// classifier trained with cross-entropy, so such models keep T = 1.
const autoTemperatureSpread = 4

// autoTemperature picks the softmax temperature of the loss from the scale
// of the logits it will see: the median, over the first samples, of the
// standard deviation of a row of the reference logits (the teacher's for
// distillation, the quantized model's own for labels), divided by
// autoTemperatureSpread, and at least 1.
//
// A softmax at temperature T is informative when the logits spread over a
// few units of T. Networks trained with cross-entropy have logits of
// spread ~1-5 and get T = 1 (the usual loss); mnist-7, trained on raw
// 0..255 pixels, has logits of spread ~2400, where softmax(z) is one-hot
// for almost every image, the cross-entropy of a correct image is 0 and
// its gradient vanishes, so training at T = 1 follows the few misclassified
// images only. Measured on mnist-7 at 4-bit weights and activations, one
// epoch (docs/qat.md): with labels 98.78% at T = 1, 99.01-99.03% at T =
// 200-500, 98.90% at 1000, 98.43% at 2450 (too soft: every correct image
// keeps pulling its margin up); distilling, 98.87-98.94% for T = 500-1500
// and 98.76% at 2450. The rule gives T ~ 600 there.
func (t *trainer) autoTemperature() (float64, error) {
	n := min(autoTemperatureSamples, t.data.Inputs.Len())
	var prog *engine.Program
	if t.data.Teacher != nil && t.cfg.Loss != CrossEntropy {
		prog = t.data.Teacher
	} else {
		var err error
		if prog, err = engine.Compile(t.tm.Model); err != nil {
			return 0, err
		}
	}
	var spreads []float64
	for i := 0; i < n; i++ {
		sample, err := t.data.Inputs.Sample(i)
		if err != nil {
			return 0, fmt.Errorf("sample %d: %w", i, err)
		}
		outs, err := prog.Run(sample, nil)
		if err != nil {
			return 0, fmt.Errorf("sample %d: %w", i, err)
		}
		y, ok := outs[t.out.Name]
		if !ok {
			return 0, fmt.Errorf("no output %q", t.out.Name)
		}
		spreads = append(spreads, rowSpreads(y)...)
	}
	if len(spreads) == 0 {
		return 1, nil
	}
	sort.Float64s(spreads)
	return math.Max(1, spreads[len(spreads)/2]/autoTemperatureSpread), nil
}

// rowSpreads returns the standard deviation of each row (last axis) of t.
func rowSpreads(t *graph.Tensor) []float64 {
	z, err := t.Float32s()
	if err != nil || t.Rank() == 0 {
		return nil
	}
	c := int(t.Shape[t.Rank()-1])
	if c < 2 {
		return nil
	}
	var out []float64
	for r := 0; r+c <= len(z); r += c {
		var mean, sq float64
		for _, v := range z[r : r+c] {
			mean += float64(v)
		}
		mean /= float64(c)
		for _, v := range z[r : r+c] {
			d := float64(v) - mean
			sq += d * d
		}
		out = append(out, math.Sqrt(sq/float64(c)))
	}
	return out
}
