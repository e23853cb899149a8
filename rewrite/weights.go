package rewrite

import (
	"math"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// WeightParamsMSE returns symmetric params for a weight whose clipping
// threshold is chosen per channel (or per block, or for the whole tensor)
// to minimize the squared error of quantizing that channel's own values:
// thresholds from 50% to 100% of the channel's absolute maximum are
// searched in 1% steps. At 4 bits clipping a few outliers gains much
// resolution for the rest; at 8 bits the result is usually min-max.
func WeightParamsMSE(w *graph.Tensor, s *Spec) ([]quant.Params, error) {
	data, err := w.Float32s()
	if err != nil {
		return nil, err
	}
	groups := channelGroups(len(data), w.Shape, s)
	out := make([]quant.Params, len(groups))
	for k, idx := range groups {
		var absmax float64
		for _, i := range idx {
			absmax = math.Max(absmax, math.Abs(float64(data[i])))
		}
		best := quant.ParamsFor(-absmax, absmax, s.Type, true)
		bestErr := math.Inf(1)
		for step := 100; step >= 50; step-- {
			t := absmax * float64(step) / 100
			p := quant.ParamsFor(-t, t, s.Type, true)
			var e float64
			for _, i := range idx {
				d := float64(data[i] - quant.FakeQuant(data[i], p, s.Type.DType))
				e += d * d
			}
			if e < bestErr {
				best, bestErr = p, e
			}
		}
		out[k] = best
	}
	return out, nil
}

// channelGroups lists, per params entry, the indices of the weight's
// elements that use it (the inverse of paramIndex).
func channelGroups(n int, shape []int64, s *Spec) [][]int {
	count := 1
	if s.Axis >= 0 {
		_, ch, inner := split3(shape, s.Axis)
		count = ch
		if s.BlockSize > 0 {
			outer := n / (ch * inner)
			count = outer * ((ch + s.BlockSize - 1) / s.BlockSize) * inner
		}
	}
	groups := make([][]int, count)
	for i := 0; i < n; i++ {
		k := paramIndex(i, shape, s, count)
		groups[k] = append(groups[k], i)
	}
	return groups
}
