package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// shapeOnly are the ops whose outputs depend on their inputs' shapes and
// types, never on their values: in a lowering (built for one set of input
// shapes) their outputs are constants, however dynamic their inputs.
var shapeOnly = map[string]bool{"Shape": true, "Size": true}

func isShapeOnly(n *graph.Node) bool {
	return (n.Domain == "" || n.Domain == "ai.onnx") && shapeOnly[n.OpType]
}

// Frozen is a trainable value the lowering keeps constant because the
// loss's gradient with respect to it cannot be computed.
type Frozen struct {
	Value *graph.Value
	// Node is the node whose op has no gradient on the value's way to the
	// loss; nil when no path of float values leads from the value to the
	// loss at all (only its shape is read, or it feeds integer values).
	Node *graph.Node
}

// Reason says why the value is frozen, for reports.
func (f Frozen) Reason() string {
	if f.Node == nil {
		return "no path of float values leads from it to the loss"
	}
	name := f.Node.Label()
	if f.Node.Name != "" {
		name = fmt.Sprintf("%q", f.Node.Name)
	}
	return fmt.Sprintf("node %s, op %s has no gradient", name, f.Node.OpType)
}

// String is `W (node "X", op Y has no gradient)`.
func (f Frozen) String() string { return fmt.Sprintf("%s (%s)", f.Value.Name, f.Reason()) }

// lowerPlan says, for one choice of parameters, which values of the main
// graph vary from run to run (they become Gorgonia nodes) and which are
// fixed for the lowering's input shapes.
type lowerPlan struct {
	// dynamic values: parameters, fed float inputs and the outputs of
	// nodes that read a dynamic value (except shape-only nodes).
	dynamic map[*graph.Value]bool
	// shaped are the outputs of shape-only nodes that read a dynamic value:
	// constants of the lowering, taken from the sample run.
	shaped map[*graph.Value]bool
}

// planLowering classifies g's values given the parameters and the fed
// float inputs.
func planLowering(g *graph.Graph, params, fed map[*graph.Value]bool) *lowerPlan {
	p := &lowerPlan{dynamic: map[*graph.Value]bool{}, shaped: map[*graph.Value]bool{}}
	for v := range params {
		p.dynamic[v] = true
	}
	for v := range fed {
		p.dynamic[v] = true
	}
	for _, n := range g.Nodes {
		dyn := false
		for _, v := range n.Inputs {
			dyn = dyn || p.dynamic[v]
		}
		for _, sg := range n.Subgraphs {
			for _, v := range sg.OuterValues() {
				dyn = dyn || p.dynamic[v]
			}
		}
		for _, o := range n.Outputs {
			switch {
			case o == nil || !dyn:
			case isShapeOnly(n):
				p.shaped[o] = true
			default:
				p.dynamic[o] = true
			}
		}
	}
	return p
}

// freeze returns the parameters whose gradient the lowering cannot
// compute: those from which no float value leads to loss, and those with
// a path to loss through a node whose op has no gradient (its other paths
// would give a partial, wrong gradient). A value's path to the loss is
// followed through float dynamic values only: integer values (indices,
// masks, shapes) carry no gradient. ops gives each node's implementation.
func (p *lowerPlan) freeze(g *graph.Graph, ops map[*graph.Node]*Op, params []*graph.Value, loss *graph.Value, types map[*graph.Value]*graph.Tensor) []Frozen {
	float := func(v *graph.Value) bool {
		return v != nil && p.dynamic[v] && types[v] != nil && types[v].DType == graph.Float
	}
	reach := map[*graph.Value]bool{loss: true}
	blocked := map[*graph.Value]*graph.Node{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		var after *graph.Node
		reaches := false
		for _, o := range n.Outputs {
			if float(o) && reach[o] {
				reaches = true
				if after == nil {
					after = blocked[o]
				}
			}
		}
		if !reaches {
			continue
		}
		noGradient := ops[n].Backward == nil
		for _, v := range n.Inputs {
			if !float(v) {
				continue
			}
			reach[v] = true
			switch {
			case noGradient:
				blocked[v] = n
			case blocked[v] == nil && after != nil:
				blocked[v] = after
			}
		}
		// A subgraph's outer reads are inputs the node does not list.
		for _, sg := range n.Subgraphs {
			for _, v := range sg.OuterValues() {
				if float(v) {
					reach[v], blocked[v] = true, n
				}
			}
		}
	}
	var out []Frozen
	for _, v := range params {
		switch {
		case !reach[v]:
			out = append(out, Frozen{Value: v})
		case blocked[v] != nil:
			out = append(out, Frozen{Value: v, Node: blocked[v]})
		}
	}
	return out
}
