package engine

import (
	"strings"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestHeavyOpsRejectBadInputs feeds malformed shapes and attributes to
// the heavy kernels: each must return an error that says what is wrong,
// never panic.
func TestHeavyOpsRejectBadInputs(t *testing.T) {
	z := func(shape ...int64) *graph.Tensor { return graph.Zeros(graph.Float, shape) }
	i64 := func(v ...int64) *graph.Tensor { return graph.MustTensor(graph.Int64, []int64{int64(len(v))}, v) }
	cases := []struct {
		op    string
		opset int64
		attrs map[string]any
		in    []*graph.Tensor
		want  string
	}{
		{"Conv", 13, nil, []*graph.Tensor{z(1, 3, 5, 5), z(4, 2, 3, 3)}, "dim 1 must be 3"},
		{"Conv", 13, nil, []*graph.Tensor{z(1, 3, 2, 2), z(4, 3, 3, 3)}, "gives no output"},
		{"Conv", 13, nil, []*graph.Tensor{z(1, 3, 5, 5), z(4, 3, 3)}, "ranks differ"},
		{"Conv", 13, map[string]any{"group": 2}, []*graph.Tensor{z(1, 3, 5, 5), z(4, 1, 3, 3)}, "does not divide"},
		{"Conv", 13, map[string]any{"pads": []int64{1, 1}}, []*graph.Tensor{z(1, 3, 5, 5), z(4, 3, 3, 3)}, "pads"},
		{"Conv", 13, map[string]any{"kernel_shape": []int64{2, 2}}, []*graph.Tensor{z(1, 3, 5, 5), z(4, 3, 3, 3)}, "kernel_shape"},
		{"Conv", 13, nil, []*graph.Tensor{z(1, 3, 5, 5), z(4, 3, 3, 3), z(3)}, "bias B has 3 elements"},
		{"Conv", 13, nil, []*graph.Tensor{graph.Zeros(graph.Int32, []int64{1, 3, 5, 5}), z(4, 3, 3, 3)}, "floating-point"},
		{"ConvTranspose", 13, nil, []*graph.Tensor{z(1, 3, 5, 5), z(2, 3, 3, 3)}, "dim 0 must be"},
		{"ConvTranspose", 13, map[string]any{"pads": []int64{3, 3, 3, 3}}, []*graph.Tensor{z(1, 1, 1, 1), z(1, 1, 3, 3)}, "no output"},
		{"MatMul", 13, nil, []*graph.Tensor{z(2, 3), z(4, 5)}, "inner dims"},
		{"MatMul", 13, nil, []*graph.Tensor{z(2, 2, 3), z(3, 3, 5)}, "cannot be broadcast"},
		{"MatMul", 13, nil, []*graph.Tensor{graph.Scalar(1), z(3)}, "rank >= 1"},
		{"Gemm", 13, nil, []*graph.Tensor{z(2, 3), z(3, 4), z(3, 4)}, "does not broadcast"},
		{"Gemm", 13, nil, []*graph.Tensor{z(2, 3, 1), z(3, 4)}, "2-D"},
		{"MaxPool", 12, map[string]any{"kernel_shape": []int64{2}}, []*graph.Tensor{z(1, 1, 4, 4)}, "kernel_shape"},
		{"MaxPool", 12, map[string]any{"kernel_shape": []int64{5, 5}}, []*graph.Tensor{z(1, 1, 4, 4)}, "gives no output"},
		{"AveragePool", 19, map[string]any{"kernel_shape": []int64{2, 2}}, []*graph.Tensor{z(4, 4)}, "spatial dim"},
		{"GlobalAveragePool", 1, nil, []*graph.Tensor{z(4)}, "N×C"},
		{"BatchNormalization", 15, nil, []*graph.Tensor{z(2, 3, 4), z(3), z(3), z(2), z(3)}, "mean has shape"},
		{"LayerNormalization", 17, map[string]any{"axis": 3}, []*graph.Tensor{z(2, 3), z(3)}, "out of range"},
		{"LayerNormalization", 17, nil, []*graph.Tensor{z(2, 3), z(4)}, "does not broadcast"},
		{"InstanceNormalization", 6, nil, []*graph.Tensor{z(2, 3, 4), z(2), z(3)}, "must have 3 elements"},
		{"Pad", 13, nil, []*graph.Tensor{z(2, 3), i64(1, 1)}, "want 4"},
		{"Pad", 13, nil, []*graph.Tensor{z(2, 3), i64(0, -2, 0, -2)}, "remove more"},
		{"Pad", 18, nil, []*graph.Tensor{z(2, 3), i64(1, 1), nil, i64(2)}, "out of range"},
		{"Resize", 13, nil, []*graph.Tensor{z(1, 1, 2, 2), nil, graph.MustTensor(graph.Float, []int64{2}, []float32{2, 2})}, "must hold 4"},
		{"Resize", 13, nil, []*graph.Tensor{z(1, 1, 2, 2)}, "scales or sizes"},
		{"Resize", 13, nil, []*graph.Tensor{z(1, 1, 2, 2), nil, graph.MustTensor(graph.Float, []int64{4}, []float32{1, 1, 0.1, 1})}, "no output"},
		{"MatMulInteger", 10, nil, []*graph.Tensor{z(2, 3), z(3, 2)}, "int8 or uint8"},
	}
	for _, c := range cases {
		o := Lookup("", c.op, c.opset)
		n := newTestNode(c.op, c.attrs, 1)
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s %v: panic: %v", c.op, c.attrs, r)
				}
			}()
			if o.Check != nil {
				if err := o.Check(n); err != nil {
					return err
				}
			}
			_, err = o.Forward(&Context{Node: n, Opset: c.opset}, c.in)
			return err
		}()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want one mentioning %q", c.op, c.attrs, err, c.want)
		}
	}
}
