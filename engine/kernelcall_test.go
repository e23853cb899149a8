package engine

import (
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestCallForwardRecovers checks that a panicking kernel becomes an error.
func TestCallForwardRecovers(t *testing.T) {
	op := &Op{Type: "Boom", Forward: func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		var s []int
		_ = s[3]
		return nil, nil
	}}
	_, err := callForward(op, &Context{Node: &graph.Node{OpType: "Boom"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "Boom kernel") {
		t.Fatalf("error %v, want an internal error naming the kernel", err)
	}
}

// TestHugeShapesAreErrors checks that shapes taken from model values
// cannot make a kernel allocate without bound.
func TestHugeShapesAreErrors(t *testing.T) {
	huge := graph.MustTensor(graph.Int64, []int64{2}, []int64{1 << 20, 1 << 20})
	cases := []struct {
		op string
		in []*graph.Tensor
	}{
		{"ConstantOfShape", []*graph.Tensor{huge}},
		{"Expand", []*graph.Tensor{graph.Scalar(1), huge}},
		{"Tile", []*graph.Tensor{graph.MustTensor(graph.Float, []int64{1, 1}, []float32{1}), huge}},
		{"Range", []*graph.Tensor{graph.MustTensor(graph.Int64, nil, []int64{0}), graph.MustTensor(graph.Int64, nil, []int64{1 << 40}), graph.MustTensor(graph.Int64, nil, []int64{1})}},
		{"ConstantOfShape", []*graph.Tensor{graph.MustTensor(graph.Int64, []int64{1}, []int64{-1})}},
	}
	for _, c := range cases {
		o := Lookup("", c.op, 13)
		if _, err := callForward(o, &Context{Node: newTestNode(c.op, nil, 1), Opset: 13}, c.in); err == nil {
			t.Errorf("%s with shape input %v: no error", c.op, c.in[len(c.in)-1].Data)
		}
	}
}
