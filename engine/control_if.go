package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// ifKernel is If: it runs then_branch or else_branch, chosen by the
// one-element condition, and returns that branch's outputs.
func ifKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	c := in[0]
	if c.Len() != 1 {
		return nil, fmt.Errorf("condition must have one element, has shape %v", c.Shape)
	}
	v, err := c.Int64s()
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	name := "else_branch"
	if v[0] != 0 {
		name = "then_branch"
	}
	g := ctx.Node.Subgraphs[name]
	if g == nil {
		return nil, fmt.Errorf("attribute %s is missing", name)
	}
	outs, err := ctx.RunSubgraph(g, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(outs) != len(ctx.Node.Outputs) {
		return nil, fmt.Errorf("%s has %d outputs, the node has %d", name, len(outs), len(ctx.Node.Outputs))
	}
	return outs, nil
}

func checkIf(n *graph.Node) error {
	if err := checkTensorValues(n); err != nil {
		return err
	}
	for _, name := range []string{"then_branch", "else_branch"} {
		g := n.Subgraphs[name]
		if g == nil {
			return fmt.Errorf("attribute %s is missing", name)
		}
		if len(g.Outputs) != len(n.Outputs) {
			return fmt.Errorf("%s has %d outputs, the node has %d", name, len(g.Outputs), len(n.Outputs))
		}
		for _, v := range g.Outputs {
			if v.Type != nil && v.Type.Value != nil && v.Type.GetTensorType() == nil {
				return fmt.Errorf("%s output %q is not a tensor (sequence and optional values are not supported)", name, v.Name)
			}
		}
	}
	return nil
}

func init() {
	// Opsets 13 and 16 extend If to sequence and optional values, which
	// the engine's tensors do not represent; tensor-valued branches run
	// the same at every version.
	Register(&Op{Type: "If", MinOpset: 1, Forward: ifKernel, Check: checkIf})
}
