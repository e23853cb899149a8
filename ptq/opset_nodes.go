package ptq

import (
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/rewrite"
)

// overridesNeedOpset21 reports whether a per-node override asks for a type
// that only opset 21 expresses (4-bit weights, 4- or 16-bit activations),
// so that a config file giving one node int4 weights (a mixed-precision
// map from `insert-qdq --max-drop`) gets the opset it needs.
func overridesNeedOpset21(opts rewrite.Options) bool {
	for _, ov := range opts.Nodes {
		if ov.Exclude {
			continue
		}
		for _, dt := range []graph.DType{ov.Weights, ov.Activations} {
			if dt != graph.Undefined && dt.Bits() != 8 {
				return true
			}
		}
	}
	return false
}
