package rewrite

import (
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// DivToMul rewrites Div(x, c) with a constant float c into Mul(x, 1/c), and
// Sub(x, c) into Add(x, -c). ONNX Runtime has integer kernels for Mul and
// Add (QLinearMul, QLinearAdd) but none for Div and Sub, so in a
// quantized model each Div or Sub by a constant would cost a
// DequantizeLinear / QuantizeLinear pair around a float kernel. The
// reciprocal is rounded once to float32, so results may differ from the
// division in the last bit.
var DivToMul = Pass{Name: "div-to-mul", Apply: divToMul}

func divToMul(m *graph.Model, log *Log) error {
	n := 0
	for _, g := range m.Graph.Graphs() {
		nm := graph.NewNamer(m.Graph)
		for _, node := range g.Nodes {
			if (node.OpType != "Div" && node.OpType != "Sub") || (node.Domain != "" && node.Domain != "ai.onnx") || len(node.Inputs) != 2 {
				continue
			}
			c := node.Inputs[1]
			if !c.IsConst() || c.Const.DType != graph.Float {
				continue
			}
			f := c.Const.Data.([]float32)
			out := make([]float32, len(f))
			ok := true
			for i, v := range f {
				if node.OpType == "Div" {
					if v == 0 || math.IsInf(float64(1/v), 0) {
						ok = false
						break
					}
					out[i] = 1 / v
				} else {
					out[i] = -v
				}
			}
			if !ok {
				continue
			}
			suffix, op := "_reciprocal", "Mul"
			if node.OpType == "Sub" {
				suffix, op = "_negated", "Add"
			}
			node.Inputs[1] = g.AddInitializer(nm, c.Name+suffix, graph.MustTensor(graph.Float, c.Const.Shape, out))
			node.OpType = op
			n++
		}
	}
	if n > 0 {
		log.Changef("rewrote %d Div/Sub by constants as Mul/Add", n)
	}
	return removeDeadNodes(m, &Log{})
}

// MergeConstantChains merges two consecutive element-wise operations of
// the same kind with constant operands, Mul(Mul(x, a), b) -> Mul(x, a*b)
// and Add(Add(x, a), b) -> Add(x, a+b), when the inner result has no other
// reader and the two constants broadcast to the shape of one of them.
// Exporters leave such chains around decomposed activations (PP-OCR's
// hardswish is followed by a per-layer scale and shift).
var MergeConstantChains = Pass{Name: "merge-constant-chains", Apply: mergeConstantChains}

func mergeConstantChains(m *graph.Model, log *Log) error {
	total := applyRule(m, func(g *graph.Graph, outer *graph.Node, uses graph.Uses, nm *graph.Namer) bool {
		if (outer.OpType != "Mul" && outer.OpType != "Add") || len(outer.Inputs) != 2 {
			return false
		}
		x, b := constOperand(outer)
		if x == nil || x.Producer == nil || x.Producer.OpType != outer.OpType || x.Producer.Graph != g || len(uses[x]) != 1 || x.IsGraphOutput() {
			return false
		}
		inner := x.Producer
		y, a := constOperand(inner)
		if y == nil {
			return false
		}
		merged, ok := combine(a.Const, b.Const, outer.OpType)
		if !ok {
			return false
		}
		cv := g.AddInitializer(nm, b.Name+"_merged", merged)
		outer.Inputs = []*graph.Value{y, cv}
		g.RemoveNodes(map[*graph.Node]bool{inner: true})
		return true
	})
	if total > 0 {
		log.Changef("merged %d chained Mul/Add pairs with constant operands", total)
	}
	return removeDeadNodes(m, &Log{})
}

// constOperand returns the non-constant and the constant float input of a
// binary node, or nils.
func constOperand(n *graph.Node) (x, c *graph.Value) {
	a, b := n.Inputs[0], n.Inputs[1]
	switch {
	case b.IsConst() && !a.IsConst() && b.Const.DType == graph.Float:
		return a, b
	case a.IsConst() && !b.IsConst() && a.Const.DType == graph.Float:
		return b, a
	}
	return nil, nil
}

// combine multiplies or adds two constants when one is a scalar (any rank
// with one element) or both have the same shape; the result has the shape
// of the larger, so broadcasting against x is unchanged.
func combine(a, b *graph.Tensor, op string) (*graph.Tensor, bool) {
	af, bf := a.Data.([]float32), b.Data.([]float32)
	big, small := a, b
	if b.Len() > a.Len() || b.Len() == a.Len() && b.Rank() > a.Rank() {
		big, small = b, a
	}
	if small.Len() != 1 && !slices.Equal(a.Shape, b.Shape) {
		return nil, false
	}
	if small.Rank() > big.Rank() {
		return nil, false
	}
	out := make([]float32, big.Len())
	for i := range out {
		x := af[min(i, len(af)-1)]
		y := bf[min(i, len(bf)-1)]
		if op == "Mul" {
			out[i] = x * y
		} else {
			out[i] = x + y
		}
	}
	return graph.MustTensor(graph.Float, big.Shape, out), true
}
