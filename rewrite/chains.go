package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// arithmeticOp reports whether n is element-wise arithmetic that
// requantizes its result when quantized (its rule is Elementwise).
func arithmeticOp(n *graph.Node, rules map[string]OpRule) bool {
	return n.Domain == "" && rules[n.OpType].Elementwise
}

// transparent reports whether n is an activation a quantized tensor passes
// through without requantization (an Absorbable rule: Relu, Clip; a
// runtime applies it by clamping the integer values), so that it neither
// breaks nor makes a chain.
func transparent(n *graph.Node, rules map[string]OpRule) bool {
	return n.Domain == "" && rules[n.OpType].Absorbable
}

// elementwiseChains returns the element-wise arithmetic nodes of m's main
// graph joined by a chain edge, with the reason they stay in float. A chain
// edge is an output of one such node that, looking through transparent
// activations, only other such nodes read: quantized, it would be
// requantized for them alone. An output that a convolution (or any other
// operator) also reads is quantized anyway and joins nothing: a residual
// Add whose Relu output feeds both the next block's convolution and its
// skip Add stays quantized, as does a lone Add between convolutions.
func elementwiseChains(m *graph.Model, rules map[string]OpRule) map[*graph.Node]string {
	g := m.Graph
	uses := g.UseMap()
	isOutput := map[*graph.Value]bool{}
	for _, o := range g.Outputs {
		isOutput[o] = true
	}
	// readers collects the nodes that read v, looking through transparent
	// activations; ok is false when something else (a graph output) does.
	var readers func(v *graph.Value, depth int, into []*graph.Node) ([]*graph.Node, bool)
	readers = func(v *graph.Value, depth int, into []*graph.Node) ([]*graph.Node, bool) {
		if depth > len(g.Nodes) || isOutput[v] {
			return into, false
		}
		for _, r := range uses[v] {
			if transparent(r, rules) && r.Input(0) == v && len(r.Outputs) == 1 {
				var ok bool
				if into, ok = readers(r.Output(0), depth+1, into); !ok {
					return into, false
				}
				continue
			}
			into = append(into, r)
		}
		return into, true
	}
	out := map[*graph.Node]string{}
	for _, n := range g.Nodes {
		if !arithmeticOp(n, rules) || len(n.Outputs) != 1 {
			continue
		}
		rs, ok := readers(n.Output(0), 0, nil)
		if !ok || len(rs) == 0 {
			continue
		}
		chain := true
		for _, r := range rs {
			if !arithmeticOp(r, rules) {
				chain = false
			}
		}
		if !chain {
			continue
		}
		for _, r := range append(rs, n) {
			if _, done := out[r]; !done {
				out[r] = fmt.Sprintf("left in float for accuracy: element-wise chain through %q (requantizing inside a chain adds noise and saves little time; --placement speed quantizes it)", n.Output(0).Name)
			}
		}
	}
	return out
}
