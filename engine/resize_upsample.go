package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// Upsample (deprecated in opset 10) is Resize with asymmetric coordinates
// and ONNX Runtime's simple nearest rounding: opsets 7-8 give the scales
// as an attribute, 9 as an input. Its modes are nearest and linear
// ("bilinear" in some exporters).
func init() {
	Register(&Op{Type: "Upsample", MinOpset: 7, MaxOpset: 8, Forward: upsampleForward, Backward: upsampleBackward, Check: checkUpsample})
	Register(&Op{Type: "Upsample", MinOpset: 9, MaxOpset: 9, Forward: upsampleForward, Backward: upsampleBackward, Check: checkUpsample})
}

func upsampleAttrs(n *graph.Node) (*resizeAttrs, error) {
	mode := n.AttrString("mode", "nearest")
	if mode == "bilinear" {
		mode = "linear"
	}
	if mode != "nearest" && mode != "linear" {
		return nil, fmt.Errorf("mode %q is not nearest or linear", mode)
	}
	return &resizeAttrs{mode: mode, coord: "asymmetric", nearest: "simple", keepAspect: "stretch"}, nil
}

func checkUpsample(n *graph.Node) error {
	_, err := upsampleAttrs(n)
	return err
}

func newUpsamplePlan(ctx *Context, in []*graph.Tensor) (*resizePlan, error) {
	a, err := upsampleAttrs(ctx.Node)
	if err != nil {
		return nil, err
	}
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("Upsample needs input X")
	}
	var scales *graph.Tensor
	if ctx.Opset < 9 {
		s := ctx.Node.AttrFloats("scales", nil)
		if s == nil {
			return nil, fmt.Errorf("Upsample needs the scales attribute")
		}
		scales = graph.MustTensor(graph.Float, []int64{int64(len(s))}, s)
	} else {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("Upsample needs input scales")
		}
		scales = in[1]
	}
	return planResize(a, in[0].Shape, nil, scales, nil)
}

var upsampleForward, upsampleBackward = planKernels(newUpsamplePlan)
