package engine

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestSoftmaxOpsetSemantics checks the two Softmax definitions on one
// input: before opset 13 the input is coerced to 2-D at axis (so axis 0
// normalizes all six elements together); from 13 the op normalizes along
// the one axis (each column). Expected values are computed here from the
// definitions in float64; float32 results agree to 1e-6.
func TestSoftmaxOpsetSemantics(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6} // shape [2, 3]
	in := []*graph.Tensor{graph.MustTensor(graph.Float, []int64{2, 3}, x)}
	exp := func(v float32) float64 { return math.Exp(float64(v)) }

	var all float64
	for _, v := range x {
		all += exp(v)
	}
	old := runOp(t, "Softmax", 11, map[string]any{"axis": 0}, 1, in)[0].Data.([]float32)
	for i, v := range x {
		if want := exp(v) / all; math.Abs(float64(old[i])-want) > 1e-6 {
			t.Errorf("opset 11 element %d: %v, want %v", i, old[i], want)
		}
	}
	cur := runOp(t, "Softmax", 13, map[string]any{"axis": 0}, 1, in)[0].Data.([]float32)
	for i, v := range x {
		col := exp(x[i%3]) + exp(x[3+i%3])
		if want := exp(v) / col; math.Abs(float64(cur[i])-want) > 1e-6 {
			t.Errorf("opset 13 element %d: %v, want %v", i, cur[i], want)
		}
	}
	// Default axes: 1 before 13 (rows of the 2-D view), -1 from 13: the
	// same rows for a 2-D input.
	a := runOp(t, "LogSoftmax", 12, nil, 1, in)[0].Data.([]float32)
	b := runOp(t, "LogSoftmax", 13, nil, 1, in)[0].Data.([]float32)
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("LogSoftmax default axis, element %d: opset 12 %v, opset 13 %v", i, a[i], b[i])
		}
	}
}

// TestIfReadsOuterScope runs an If whose branches read a value of the
// enclosing graph, through Compile and Run.
func TestIfReadsOuterScope(t *testing.T) {
	b := graph.NewBuilder(13)
	cond := b.Input("cond", graph.Bool)
	x := b.Input("x", graph.Float, 2)
	m := b.Model()
	branch := func(op string) *graph.Graph {
		g := &graph.Graph{Name: op + "_branch", Parent: m.Graph}
		nm := graph.NewNamer(g)
		n := g.NewNode(nm, op, "", []*graph.Value{x, x}, []string{op + "_y"}, nil)
		g.Outputs = n.Outputs
		return g
	}
	ifNode := m.Graph.NewNode(graph.NewNamer(m.Graph), "If", "", []*graph.Value{cond}, []string{"y"}, nil)
	ifNode.SetAttr("then_branch", branch("Add"))
	ifNode.SetAttr("else_branch", branch("Mul"))
	b.Output(ifNode.Outputs[0])
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cond bool
		want []float32
	}{{true, []float32{6, -2}}, {false, []float32{9, 1}}} {
		res, err := p.Run(map[string]*graph.Tensor{
			"cond": graph.MustTensor(graph.Bool, nil, []bool{c.cond}),
			"x":    graph.MustTensor(graph.Float, []int64{2}, []float32{3, -1}),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := res["y"].Data.([]float32)
		if got[0] != c.want[0] || got[1] != c.want[1] {
			t.Errorf("cond %v: %v, want %v", c.cond, got, c.want)
		}
	}
}
