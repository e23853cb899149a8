package rewrite

import (
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// hardSwishBlock builds x -> Conv -> [Add 3 -> Clip 0..6 -> Mul(conv, ·) ->
// Mul 1/6] -> Conv -> Add(·, conv) -> Relu -> {Conv, Add(conv, ·)}: the
// decomposed HardSwish of PP-OCR's backbone between two convolutions, then
// two residual Adds joined through a Relu that a convolution also reads
// (BlazeFace's blocks), which are no chain.
func hardSwishBlock() (m *graph.Model, chain, residual []*graph.Node) {
	b := graph.NewBuilder(13)
	shape := []int64{1, 2, 4, 4}
	typed := func(v *graph.Value) *graph.Value { return graph.SetType(v, graph.Float, shape...) }
	w := func(name string) *graph.Value { return b.Floats(name, []int64{2, 2, 1, 1}, 1, 2, 3, 4) }
	scalar := func(name string, v float32) *graph.Value { return b.Floats(name, []int64{}, v) }
	x := b.Input("x", graph.Float, shape...)
	c1 := typed(b.Op("Conv", []*graph.Value{x, w("w1")}, nil))
	a3 := typed(b.Op("Add", []*graph.Value{c1, scalar("three", 3)}, nil))
	cl := typed(b.Op("Clip", []*graph.Value{a3, scalar("lo", 0), scalar("hi", 6)}, nil))
	m1 := typed(b.Op("Mul", []*graph.Value{c1, cl}, nil))
	m2 := typed(b.Op("Mul", []*graph.Value{m1, scalar("sixth", 1.0/6)}, nil))
	c2 := typed(b.Op("Conv", []*graph.Value{m2, w("w2")}, nil))
	res := typed(b.Op("Add", []*graph.Value{c2, c1}, nil))
	r := typed(b.Op("Relu", []*graph.Value{res}, nil))
	c3 := typed(b.Op("Conv", []*graph.Value{r, w("w3")}, nil))
	res2 := typed(b.Op("Add", []*graph.Value{c3, r}, nil))
	b.Output(typed(b.Op("Conv", []*graph.Value{res2, w("w4")}, nil)))
	return b.Model(), []*graph.Node{a3.Producer, m1.Producer, m2.Producer}, []*graph.Node{res.Producer, res2.Producer}
}

// TestBalancedPlacementKeepsElementwiseChainsInFloat checks that balanced
// placement (the default) leaves the Add -> Clip -> Mul -> Mul chain in
// float with a reason, and keeps the residual Add and all convolutions
// quantized; speed placement quantizes the chain.
func TestBalancedPlacementKeepsElementwiseChainsInFloat(t *testing.T) {
	for _, tc := range []struct {
		placement  Placement
		chainQuant bool
	}{{"", false}, {PlaceBalanced, false}, {PlaceSpeed, true}} {
		m, chain, residual := hardSwishBlock()
		p, err := Annotate(m, Options{Placement: tc.placement})
		if err != nil {
			t.Fatal(err)
		}
		decided := map[*graph.Node]Decision{}
		for _, d := range p.Decisions {
			decided[d.Node] = d
		}
		for _, n := range chain {
			d := decided[n]
			if d.Quantized != tc.chainQuant {
				t.Errorf("placement %q: chain node %s quantized=%v (%s), want %v", tc.placement, n.Label(), d.Quantized, d.Reason, tc.chainQuant)
			}
			if !tc.chainQuant && !strings.Contains(d.Reason, "element-wise chain") {
				t.Errorf("placement %q: chain node %s: reason %q does not say why", tc.placement, n.Label(), d.Reason)
			}
		}
		for _, n := range residual {
			if d := decided[n]; !d.Quantized {
				t.Errorf("placement %q: residual %s left in float (%s)", tc.placement, n.Label(), d.Reason)
			}
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType == "Conv" && !decided[n].Quantized {
				t.Errorf("placement %q: %s left in float (%s)", tc.placement, n.Label(), decided[n].Reason)
			}
		}
	}
}
