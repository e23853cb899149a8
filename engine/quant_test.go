package engine

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// QuantizeLinear / DequantizeLinear cases beyond the node tests (which
// cover opsets 10 and 13 per-tensor and per-axis only). Expected values are
// worked out by hand from the spec formulas y = saturate(round_half_even(x
// / scale) + zp) and y = (x - zp) * scale; every expected value below is
// exact, so results are compared exactly.

func f32(shape []int64, v ...float32) *graph.Tensor { return graph.MustTensor(graph.Float, shape, v) }

type quantCase struct {
	name  string
	op    string
	opset int64
	attrs map[string]any
	in    []*graph.Tensor
	want  *graph.Tensor
}

var nan32 = float32(math.NaN())

var quantCases = []quantCase{
	{"round half to even, int8", "QuantizeLinear", 13, nil,
		[]*graph.Tensor{f32([]int64{8}, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000, -1000), f32(nil, 1),
			graph.MustTensor(graph.Int8, nil, []int8{0})},
		graph.MustTensor(graph.Int8, []int64{8}, []int8{0, 2, 2, 0, -2, -2, 127, -128})},
	{"uint8 zero point, saturation at 0", "QuantizeLinear", 10, nil,
		[]*graph.Tensor{f32([]int64{5}, -1, 0, 1.2, -100, 63.75), f32(nil, 0.5), graph.MustTensor(graph.Uint8, nil, []uint8{128})},
		// -2+128, 0+128, round(2.4)+128, sat(-200+128), round(127.5)=128 -> sat 255
		graph.MustTensor(graph.Uint8, []int64{5}, []uint8{126, 128, 130, 0, 255})},
	{"missing zero point is uint8 0", "QuantizeLinear", 13, nil,
		[]*graph.Tensor{f32([]int64{3}, -1, 3.5, 300), f32(nil, 1)},
		graph.MustTensor(graph.Uint8, []int64{3}, []uint8{0, 4, 255})},
	{"per-axis, negative axis", "QuantizeLinear", 13, map[string]any{"axis": -1},
		[]*graph.Tensor{f32([]int64{2, 3}, 1, 1, 1, -2, -2, -2), f32([]int64{3}, 1, 0.5, 0.25),
			graph.MustTensor(graph.Int8, []int64{3}, []int8{0, 1, -1})},
		graph.MustTensor(graph.Int8, []int64{2, 3}, []int8{1, 3, 3, -2, -3, -9})},
	{"per-axis on axis 0 of a 3-D input", "QuantizeLinear", 19, map[string]any{"axis": 0},
		[]*graph.Tensor{f32([]int64{2, 1, 2}, 3, 4, 3, 4), f32([]int64{2}, 1, 2), graph.MustTensor(graph.Uint8, []int64{2}, []uint8{10, 20})},
		graph.MustTensor(graph.Uint8, []int64{2, 1, 2}, []uint8{13, 14, 22, 22})},
	{"blocked, block 2 on axis 1", "QuantizeLinear", 21, map[string]any{"axis": 1, "block_size": 2},
		[]*graph.Tensor{f32([]int64{2, 4}, 1, 2, 3, 4, 5, 6, 7, 8), f32([]int64{2, 2}, 1, 2, 4, 8),
			graph.MustTensor(graph.Int8, []int64{2, 2}, []int8{0, 1, 0, -1})},
		// row 0: 1/1, 2/1, 3/2=1.5->2 +1, 4/2=2 +1; row 1: 5/4=1.25->1, 6/4=1.5->2, 7/8->1 -1, 8/8=1 -1
		graph.MustTensor(graph.Int8, []int64{2, 4}, []int8{1, 2, 3, 3, 1, 2, 0, 0})},
	{"blocked, last block shorter", "QuantizeLinear", 21, map[string]any{"axis": 1, "block_size": 2},
		[]*graph.Tensor{f32([]int64{1, 5}, 2, 2, 2, 2, 2), f32([]int64{1, 3}, 1, 2, 4)},
		graph.MustTensor(graph.Uint8, []int64{1, 5}, []uint8{2, 2, 1, 1, 0})}, // 2/4 = 0.5 -> 0
	{"int4 saturation", "QuantizeLinear", 21, nil,
		[]*graph.Tensor{f32([]int64{5}, -100, -8.4, 7.4, 7.6, 100), f32(nil, 1), graph.MustTensor(graph.Int4, nil, []int8{0})},
		graph.MustTensor(graph.Int4, []int64{5}, []int8{-8, -8, 7, 7, 7})},
	{"uint4 with zero point", "QuantizeLinear", 21, nil,
		[]*graph.Tensor{f32([]int64{4}, -10, -1, 2, 10), f32(nil, 1), graph.MustTensor(graph.Uint4, nil, []uint8{8})},
		graph.MustTensor(graph.Uint4, []int64{4}, []uint8{0, 7, 10, 15})},
	{"int16", "QuantizeLinear", 21, nil,
		[]*graph.Tensor{f32([]int64{3}, 1e6, -1e6, 12.5), f32(nil, 0.5), graph.MustTensor(graph.Int16, nil, []int16{-3})},
		graph.MustTensor(graph.Int16, []int64{3}, []int16{32767, -32768, 22})},
	{"uint16", "QuantizeLinear", 21, nil,
		[]*graph.Tensor{f32([]int64{3}, -1, 1000.5, 1e9), f32(nil, 1), graph.MustTensor(graph.Uint16, nil, []uint16{0})},
		graph.MustTensor(graph.Uint16, []int64{3}, []uint16{0, 1000, 65535})},
	{"output_dtype without zero point", "QuantizeLinear", 21, map[string]any{"output_dtype": int64(graph.Int4)},
		[]*graph.Tensor{f32([]int64{3}, -9, 0.5, 1.5), f32(nil, 1)},
		graph.MustTensor(graph.Int4, []int64{3}, []int8{-8, 0, 2})},
	{"float8 e4m3fn, saturate", "QuantizeLinear", 19, nil,
		// 0.3 -> 0.3125 (0x2A), 448 is the max (0x7E), 500 and -1000 saturate, NaN stays NaN (0x7F).
		[]*graph.Tensor{f32([]int64{5}, 0.3, 448, 500, -1000, nan32), f32(nil, 1), graph.MustTensor(graph.Float8E4M3FN, nil, []uint8{0})},
		graph.MustTensor(graph.Float8E4M3FN, []int64{5}, []uint8{0x2A, 0x7E, 0x7E, 0xFE, 0x7F})},
	{"float8 e4m3fn, no saturate", "QuantizeLinear", 19, map[string]any{"saturate": 0},
		[]*graph.Tensor{f32([]int64{3}, 448, 500, -1000), f32(nil, 1), graph.MustTensor(graph.Float8E4M3FN, nil, []uint8{0})},
		graph.MustTensor(graph.Float8E4M3FN, []int64{3}, []uint8{0x7E, 0x7F, 0xFF})}, // NaN keeps the sign
	{"float8 e5m2 divides by the scale", "QuantizeLinear", 19, nil,
		// 3/2 = 1.5 = 0 01111 10 (0x3E); 1e6 saturates to 57344 (0x7B).
		[]*graph.Tensor{f32([]int64{2}, 3, 1e6), f32(nil, 2), graph.MustTensor(graph.Float8E5M2, nil, []uint8{0})},
		graph.MustTensor(graph.Float8E5M2, []int64{2}, []uint8{0x3E, 0x7B})},
	{"float16 input divides in float16", "QuantizeLinear", 19, nil,
		// 1/3 in float16 is 0.33325195; 100/0.33325195 = 300.07 -> 300 -> saturates to 255.
		// 0.5/0.33325195 = 1.50037 rounds to 1.5 in float16, a tie: 2.
		[]*graph.Tensor{halfs(100, 0.5), halfs(1.0 / 3), graph.MustTensor(graph.Uint8, nil, []uint8{0})},
		graph.MustTensor(graph.Uint8, []int64{2}, []uint8{255, 2})},
	{"int32 input", "QuantizeLinear", 13, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Int32, []int64{3}, []int32{10, 15, -300}), f32(nil, 10), graph.MustTensor(graph.Int8, nil, []int8{1})},
		graph.MustTensor(graph.Int8, []int64{3}, []int8{2, 3, -29})},

	{"dequantize uint8", "DequantizeLinear", 10, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Uint8, []int64{3}, []uint8{0, 128, 255}), f32(nil, 0.5), graph.MustTensor(graph.Uint8, nil, []uint8{128})},
		f32([]int64{3}, -64, 0, 63.5)},
	{"dequantize int32 without zero point", "DequantizeLinear", 13, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Int32, []int64{2}, []int32{-7, 1 << 20}), f32(nil, 0.25)},
		f32([]int64{2}, -1.75, 262144)},
	{"dequantize per-axis, negative axis", "DequantizeLinear", 13, map[string]any{"axis": -2},
		[]*graph.Tensor{graph.MustTensor(graph.Int8, []int64{2, 2}, []int8{1, 2, 3, 4}), f32([]int64{2}, 1, 10), graph.MustTensor(graph.Int8, []int64{2}, []int8{0, 1})},
		f32([]int64{2, 2}, 1, 2, 20, 30)},
	{"dequantize blocked int4", "DequantizeLinear", 21, map[string]any{"axis": 0, "block_size": 2},
		[]*graph.Tensor{graph.MustTensor(graph.Int4, []int64{3, 1}, []int8{-8, 7, 1}), f32([]int64{2, 1}, 0.5, 2),
			graph.MustTensor(graph.Int4, []int64{2, 1}, []int8{-1, 0})},
		f32([]int64{3, 1}, -3.5, 4, 2)},
	{"dequantize uint16", "DequantizeLinear", 21, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Uint16, []int64{2}, []uint16{0, 65535}), f32(nil, 1), graph.MustTensor(graph.Uint16, nil, []uint16{32768})},
		f32([]int64{2}, -32768, 32767)},
	{"dequantize float8 e4m3fn", "DequantizeLinear", 19, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Float8E4M3FN, []int64{3}, []uint8{0x2A, 0x7E, 0xFE}), f32(nil, 2)},
		f32([]int64{3}, 0.625, 896, -896)},
	{"dequantize to float16 output_dtype", "DequantizeLinear", 23, map[string]any{"output_dtype": int64(graph.Float16)},
		[]*graph.Tensor{graph.MustTensor(graph.Int8, []int64{2}, []int8{3, -5}), f32(nil, 0.5)},
		halfs(1.5, -2.5)},
	{"dequantize float16 scale gives float16", "DequantizeLinear", 19, nil,
		[]*graph.Tensor{graph.MustTensor(graph.Uint8, []int64{2}, []uint8{3, 0}), halfs(0.25)},
		halfs(0.75, 0)},
}

// halfs returns a float16 tensor (1-D, or a scalar for one value).
func halfs(v ...float32) *graph.Tensor {
	d := make([]uint16, len(v))
	for i, x := range v {
		d[i] = graph.Float32ToFloat16(x)
	}
	var shape []int64
	if len(v) > 1 {
		shape = []int64{int64(len(v))}
	}
	return graph.MustTensor(graph.Float16, shape, d)
}

func TestQuantizeDequantize(t *testing.T) {
	for _, c := range quantCases {
		t.Run(c.name, func(t *testing.T) {
			got := runOp(t, c.op, c.opset, c.attrs, 1, c.in)[0]
			if got.DType != c.want.DType || fmt.Sprint(got.Shape) != fmt.Sprint(c.want.Shape) {
				t.Fatalf("got %s %v, want %s %v", got.DType, got.Shape, c.want.DType, c.want.Shape)
			}
			if fmt.Sprint(got.Data) != fmt.Sprint(c.want.Data) {
				t.Errorf("got %v, want %v", got.Data, c.want.Data)
			}
		})
	}
}

// TestQuantizeRejects checks errors for inputs the spec does not allow.
func TestQuantizeRejects(t *testing.T) {
	cases := []struct {
		name  string
		opset int64
		attrs map[string]any
		in    []*graph.Tensor
	}{
		{"per-axis scale at opset 10", 10, nil, []*graph.Tensor{f32([]int64{2, 2}, 1, 2, 3, 4), f32([]int64{2}, 1, 1)}},
		{"scale length differs from the axis", 13, nil, []*graph.Tensor{f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6), f32([]int64{2}, 1, 1)}},
		{"int4 at opset 19", 19, nil, []*graph.Tensor{f32([]int64{1}, 1), f32(nil, 1), graph.MustTensor(graph.Int4, nil, []int8{0})}},
		{"block size too small for the scales", 21, map[string]any{"axis": 1, "block_size": 1},
			[]*graph.Tensor{f32([]int64{1, 4}, 1, 2, 3, 4), f32([]int64{1, 2}, 1, 1)}},
		{"output_dtype differs from the zero point", 21, map[string]any{"output_dtype": int64(graph.Int8)},
			[]*graph.Tensor{f32([]int64{1}, 1), f32(nil, 1), graph.MustTensor(graph.Uint8, nil, []uint8{0})}},
	}
	for _, c := range cases {
		o := Lookup("", "QuantizeLinear", c.opset)
		n := newTestNode("QuantizeLinear", c.attrs, 1)
		if _, err := o.Forward(&Context{Node: n, Opset: c.opset}, c.in); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	// An attribute newer than the model's opset fails at Compile.
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 4)
	y := b.Op("QuantizeLinear", []*graph.Value{x, b.Floats("s", nil, 1)}, map[string]any{"block_size": 2})
	b.Output(y)
	var u *Unsupported
	if _, err := Compile(b.Model()); !errors.As(err, &u) {
		t.Errorf("block_size at opset 13: Compile error %v, want *Unsupported", err)
	}
}

// TestDynamicQuantizeLinearScale checks the uint8 range rule of
// DynamicQuantizeLinear on a hand-worked case: min -1, max 3 -> scale
// 4/255, zero point round(255/4) = 64.
func TestDynamicQuantizeLinearScale(t *testing.T) {
	outs := runOp(t, "DynamicQuantizeLinear", 11, nil, 3, []*graph.Tensor{f32([]int64{3}, -1, 0, 3)})
	scale := outs[1].Data.([]float32)[0]
	if scale != float32(4)/255 {
		t.Errorf("scale %v, want %v", scale, float32(4)/255)
	}
	if zp := outs[2].Data.([]uint8)[0]; zp != 64 {
		t.Errorf("zero point %d, want 64", zp)
	}
	if y := fmt.Sprint(outs[0].Data); y != "[0 64 255]" {
		t.Errorf("y = %s, want [0 64 255]", y)
	}
}
