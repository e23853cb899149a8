package ptq

import (
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/rewrite"
)

// MaterializePlan inserts the Q/DQ nodes of plan with the given activation
// ranges and the weight scales cfg asks for (its weight method, per-node
// 4-bit overrides included), as Finish does: for callers that compute
// ranges themselves (package tune builds many variants of one model from
// one calibration).
func MaterializePlan(plan *rewrite.Plan, ranges map[*graph.Value]rewrite.Range, cfg Config) (*rewrite.Result, error) {
	wp, err := weightParams(plan, cfg)
	if err != nil {
		return nil, err
	}
	return rewrite.Materialize(plan, rewrite.MaterializeOptions{Ranges: ranges, WeightParams: wp})
}
