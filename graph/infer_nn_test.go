package graph

import "testing"

func TestInferConvAndPools(t *testing.T) {
	conv := func(x []any, w []int64, attrs map[string]any) func(b *Builder) []*Value {
		return func(b *Builder) []*Value {
			return valueList(b.Op("Conv", []*Value{symIn(b, "x", Float, x...), zerosF32(b, "w", w...)}, attrs))
		}
	}
	runInferCases(t, []inferCase{
		{"conv same_upper", 13, conv([]any{1, 1, 28, 28}, []int64{8, 1, 5, 5}, map[string]any{"auto_pad": "SAME_UPPER"}), []string{"FLOAT[1,8,28,28]"}},
		// floor((32 + 2 - (2*(3-1)+1)) / 2) + 1 = 15
		{"conv strides pads dilations", 13, conv([]any{2, 3, 32, 32}, []int64{16, 3, 3, 3}, map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}, "dilations": []int64{2, 2}}), []string{"FLOAT[2,16,15,15]"}},
		{"conv depthwise groups", 13, conv([]any{1, 32, 10, 10}, []int64{32, 1, 3, 3}, map[string]any{"group": 32}), []string{"FLOAT[1,32,8,8]"}},
		{"conv same_lower stride 2", 13, conv([]any{1, 3, 7, 7}, []int64{4, 3, 3, 3}, map[string]any{"auto_pad": "SAME_LOWER", "strides": []int64{2, 2}}), []string{"FLOAT[1,4,4,4]"}},
		{"conv valid stride 2", 13, conv([]any{1, 3, 7, 7}, []int64{4, 3, 3, 3}, map[string]any{"auto_pad": "VALID", "strides": []int64{2, 2}}), []string{"FLOAT[1,4,3,3]"}},
		{"conv asymmetric pads", 13, conv([]any{1, 3, 7, 7}, []int64{4, 3, 3, 3}, map[string]any{"pads": []int64{0, 1, 2, 0}}), []string{"FLOAT[1,4,7,6]"}},
		{"conv 1d", 13, conv([]any{1, 4, 10}, []int64{2, 4, 3}, nil), []string{"FLOAT[1,2,8]"}},
		{"conv symbolic keeps N H W", 13, conv([]any{"N", 3, "H", "W"}, []int64{8, 3, 3, 3}, map[string]any{"pads": []int64{1, 1, 1, 1}}), []string{"FLOAT[N,8,H,W]"}},
		{"conv symbolic stride 2", 13, conv([]any{"N", 3, "H", "W"}, []int64{8, 3, 3, 3}, map[string]any{"pads": []int64{1, 1, 1, 1}, "strides": []int64{2, 2}}), []string{"FLOAT[N,8,?,?]"}},
		{"conv with bias", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Conv", []*Value{b.Input("x", Float, 1, 3, 5, 5), zerosF32(b, "w", 6, 3, 1, 1), zerosF32(b, "b", 6)}, nil))
		}, []string{"FLOAT[1,6,5,5]"}},
		{"convtranspose stride 2", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 1, 3, 5, 5)
			return valueList(
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 3, 3)}, map[string]any{"strides": []int64{2, 2}}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 3, 3)}, map[string]any{"strides": []int64{2, 2}, "output_padding": []int64{1, 1}}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 3, 3)}, map[string]any{"strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 1, 3, 3)}, map[string]any{"group": 3}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 3, 3)}, map[string]any{"strides": []int64{2, 2}, "output_shape": []int64{10, 10}}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 3, 3)}, map[string]any{"strides": []int64{2, 2}, "auto_pad": "SAME_UPPER"}),
				b.Op("ConvTranspose", []*Value{x, zerosF32(b, "w", 3, 2, 2, 2)}, map[string]any{"strides": []int64{2, 2}, "dilations": []int64{2, 2}}),
			)
		}, []string{"FLOAT[1,2,11,11]", "FLOAT[1,2,12,12]", "FLOAT[1,2,9,9]", "FLOAT[1,3,7,7]", "FLOAT[1,2,10,10]", "FLOAT[1,2,10,10]", "FLOAT[1,2,11,11]"}},
		{"maxpool", 13, func(b *Builder) []*Value {
			return b.OpN("MaxPool", 2, []*Value{b.Input("x", Float, 1, 8, 28, 28)}, map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}})
		}, []string{"FLOAT[1,8,14,14]", "INT64[1,8,14,14]"}},
		{"maxpool ceil_mode", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 1, 1, 4, 4)
			return valueList(
				b.Op("MaxPool", []*Value{x}, map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "ceil_mode": 1}),
				b.Op("MaxPool", []*Value{x}, map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}}),
			)
		}, []string{"FLOAT[1,1,2,2]", "FLOAT[1,1,1,1]"}},
		// ceil((5+2-2)/2)+1 = 4 windows, but the 4th would start at 6 = in
		// + pad_begin, inside the end padding only: dropped, as ONNX
		// Runtime and PyTorch do.
		{"maxpool ceil_mode last window in padding", 13, func(b *Builder) []*Value {
			return valueList(b.Op("MaxPool", []*Value{b.Input("x", Float, 1, 1, 5, 5)}, map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}, "ceil_mode": 1}))
		}, []string{"FLOAT[1,1,3,3]"}},
		{"averagepool pads", 11, func(b *Builder) []*Value {
			return valueList(b.Op("AveragePool", []*Value{symIn(b, "x", Float, "N", 3, 7, 7)}, map[string]any{"kernel_shape": []int64{3, 3}, "pads": []int64{1, 1, 1, 1}}))
		}, []string{"FLOAT[N,3,7,7]"}},
		{"global pools", 13, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", "C", 7, 7)
			return valueList(b.Op("GlobalAveragePool", []*Value{x}, nil), b.Op("GlobalMaxPool", []*Value{x}, nil))
		}, []string{"FLOAT[N,C,1,1]", "FLOAT[N,C,1,1]"}},
	})
	runInferErrors(t, []errCase{
		{"conv channel mismatch", 13, func(b *Builder) {
			b.Op("Conv", []*Value{b.Input("x", Float, 1, 4, 8, 8), zerosF32(b, "w", 8, 3, 3, 3)}, nil)
		}, []string{"Conv", "4 channels", "expects 3"}},
		{"conv group mismatch", 13, func(b *Builder) {
			b.Op("Conv", []*Value{b.Input("x", Float, 1, 6, 8, 8), zerosF32(b, "w", 6, 3, 3, 3)}, map[string]any{"group": 3})
		}, []string{"6 channels", "group 3"}},
		{"conv bias length", 13, func(b *Builder) {
			b.Op("Conv", []*Value{b.Input("x", Float, 1, 3, 8, 8), zerosF32(b, "w", 6, 3, 3, 3), zerosF32(b, "b", 5)}, nil)
		}, []string{"bias"}},
		{"conv kernel larger than input", 13, func(b *Builder) {
			b.Op("Conv", []*Value{b.Input("x", Float, 1, 3, 2, 2), zerosF32(b, "w", 6, 3, 3, 3)}, nil)
		}, []string{"kernel extent 3"}},
		{"convtranspose channels", 13, func(b *Builder) {
			b.Op("ConvTranspose", []*Value{b.Input("x", Float, 1, 4, 5, 5), zerosF32(b, "w", 3, 2, 3, 3)}, nil)
		}, []string{"ConvTranspose", "4 channels"}},
		{"pool without kernel", 13, func(b *Builder) {
			b.Op("MaxPool", []*Value{b.Input("x", Float, 1, 4, 5, 5)}, nil)
		}, []string{"kernel_shape"}},
	})
}

func TestInferMatrixProducts(t *testing.T) {
	mm := func(a, b2 []any) func(b *Builder) []*Value {
		return func(b *Builder) []*Value {
			return valueList(b.Op("MatMul", []*Value{symIn(b, "a", Float, a...), symIn(b, "b", Float, b2...)}, nil))
		}
	}
	runInferCases(t, []inferCase{
		{"gemm transB", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Gemm", []*Value{b.Input("a", Float, 4, 3), zerosF32(b, "w", 5, 3), zerosF32(b, "c", 5)}, map[string]any{"transB": 1}))
		}, []string{"FLOAT[4,5]"}},
		{"gemm transA", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Gemm", []*Value{symIn(b, "a", Float, 3, "M"), zerosF32(b, "w", 3, 5)}, map[string]any{"transA": 1}))
		}, []string{"FLOAT[M,5]"}},
		{"matmul batched", 13, mm([]any{2, 3, 4}, []any{4, 5}), []string{"FLOAT[2,3,5]"}},
		{"matmul broadcast batch", 13, mm([]any{1, 3, 4, 5}, []any{2, 1, 5, 6}), []string{"FLOAT[2,3,4,6]"}},
		{"matmul 1-D left", 13, mm([]any{4}, []any{4, 5}), []string{"FLOAT[5]"}},
		{"matmul 1-D right", 13, mm([]any{2, 3, 4}, []any{4}), []string{"FLOAT[2,3]"}},
		{"matmul 1-D both", 13, mm([]any{4}, []any{4}), []string{"FLOAT[]"}},
		{"matmul symbolic", 13, mm([]any{"N", "T", 4}, []any{4, 5}), []string{"FLOAT[N,T,5]"}},
		{"matmulinteger", 13, func(b *Builder) []*Value {
			return valueList(b.Op("MatMulInteger", []*Value{b.Input("a", Uint8, 2, 3), b.Input("b", Int8, 3, 4)}, nil))
		}, []string{"INT32[2,4]"}},
		{"qlinearmatmul", 13, func(b *Builder) []*Value {
			f := func() *Value { return b.Const("s", Scalar(0.1)) }
			zp := func(dt DType) *Value { return b.Const("z", Zeros(dt, nil)) }
			return valueList(b.Op("QLinearMatMul", []*Value{b.Input("a", Uint8, 2, 3), f(), zp(Uint8), b.Input("b", Int8, 3, 4), f(), zp(Int8), f(), zp(Int8)}, nil))
		}, []string{"INT8[2,4]"}},
		{"qlinearconv", 13, func(b *Builder) []*Value {
			f := func() *Value { return b.Const("s", Scalar(0.1)) }
			zp := func(dt DType) *Value { return b.Const("z", Zeros(dt, nil)) }
			w := b.Const("w", Zeros(Int8, []int64{4, 3, 3, 3}))
			return valueList(b.Op("QLinearConv", []*Value{b.Input("x", Uint8, 1, 3, 8, 8), f(), zp(Uint8), w, f(), zp(Int8), f(), zp(Uint8)}, nil))
		}, []string{"UINT8[1,4,6,6]"}},
		{"convinteger", 13, func(b *Builder) []*Value {
			return valueList(b.Op("ConvInteger", []*Value{b.Input("x", Uint8, 1, 3, 8, 8), b.Const("w", Zeros(Int8, []int64{4, 3, 3, 3}))}, map[string]any{"pads": []int64{1, 1, 1, 1}}))
		}, []string{"INT32[1,4,8,8]"}},
	})
	runInferErrors(t, []errCase{
		{"gemm inner mismatch", 13, func(b *Builder) {
			b.Op("Gemm", []*Value{b.Input("a", Float, 4, 3), zerosF32(b, "w", 4, 5)}, nil)
		}, []string{"Gemm", "inner dimensions"}},
		{"matmul inner mismatch", 13, func(b *Builder) {
			b.Op("MatMul", []*Value{b.Input("a", Float, 2, 3), b.Input("b", Float, 4, 5)}, nil)
		}, []string{"MatMul", "inner dimensions"}},
		{"matmul batch mismatch", 13, func(b *Builder) {
			b.Op("MatMul", []*Value{b.Input("a", Float, 2, 2, 3), b.Input("b", Float, 3, 3, 5)}, nil)
		}, []string{"do not broadcast"}},
	})
}

func TestInferNormalizations(t *testing.T) {
	runInferCases(t, []inferCase{
		{"batchnorm opset 9", 9, func(b *Builder) []*Value {
			p := func() *Value { return zerosF32(b, "p", 3) }
			return valueList(b.Op("BatchNormalization", []*Value{symIn(b, "x", Float, "N", 3, 4, 4), p(), p(), p(), p()}, nil))
		}, []string{"FLOAT[N,3,4,4]"}},
		{"batchnorm training outputs opset 14", 14, func(b *Builder) []*Value {
			p := func() *Value { return zerosF32(b, "p", 3) }
			return b.OpN("BatchNormalization", 3, []*Value{b.Input("x", Float, 2, 3, 4), p(), p(), p(), p()}, map[string]any{"training_mode": 1})
		}, []string{"FLOAT[2,3,4]", "FLOAT[3]", "FLOAT[3]"}},
		{"layernorm", 17, func(b *Builder) []*Value {
			return b.OpN("LayerNormalization", 3, []*Value{b.Input("x", Float, 2, 3, 4), zerosF32(b, "s", 4)}, nil)
		}, []string{"FLOAT[2,3,4]", "FLOAT[2,3,1]", "FLOAT[2,3,1]"}},
		{"layernorm axis 1", 17, func(b *Builder) []*Value {
			return b.OpN("LayerNormalization", 2, []*Value{symIn(b, "x", Float, "N", 3, 4), zerosF32(b, "s", 3, 4)}, map[string]any{"axis": 1})
		}, []string{"FLOAT[N,3,4]", "FLOAT[N,1,1]"}},
		{"dropout opset 12", 12, func(b *Builder) []*Value {
			return b.OpN("Dropout", 2, []*Value{b.Input("x", Float, 2, 3)}, nil)
		}, []string{"FLOAT[2,3]", "BOOL[2,3]"}},
		{"dropout opset 7", 7, func(b *Builder) []*Value {
			return b.OpN("Dropout", 2, []*Value{b.Input("x", Float, 2, 3)}, nil)
		}, []string{"FLOAT[2,3]", "FLOAT[2,3]"}},
		{"depth to space and back", 13, func(b *Builder) []*Value {
			d := b.Op("DepthToSpace", []*Value{b.Input("x", Float, 1, 8, 2, 3)}, map[string]any{"blocksize": 2})
			return valueList(d, b.Op("SpaceToDepth", []*Value{d}, map[string]any{"blocksize": 2}))
		}, []string{"FLOAT[1,2,4,6]", "FLOAT[1,8,2,3]"}},
	})
	runInferErrors(t, []errCase{
		{"batchnorm scale length", 9, func(b *Builder) {
			p := func(n int64) *Value { return zerosF32(b, "p", n) }
			b.Op("BatchNormalization", []*Value{b.Input("x", Float, 1, 3, 4, 4), p(4), p(3), p(3), p(3)}, nil)
		}, []string{"BatchNormalization", "[4]", "3 channels"}},
		{"depth to space channels", 13, func(b *Builder) {
			b.Op("DepthToSpace", []*Value{b.Input("x", Float, 1, 6, 2, 3)}, map[string]any{"blocksize": 2})
		}, []string{"not divisible"}},
	})
}

func TestInferQuantization(t *testing.T) {
	runInferCases(t, []inferCase{
		{"quantize zero point type", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 2, 3)
			return valueList(
				b.Op("QuantizeLinear", []*Value{x, b.Const("s", Scalar(0.1)), b.Const("z", Zeros(Int8, nil))}, nil),
				b.Op("QuantizeLinear", []*Value{x, b.Const("s", Scalar(0.1))}, nil),
			)
		}, []string{"INT8[2,3]", "UINT8[2,3]"}},
		{"quantize output_dtype opset 21", 21, func(b *Builder) []*Value {
			return valueList(b.Op("QuantizeLinear", []*Value{b.Input("x", Float, 2, 3), b.Const("s", Scalar(0.1))}, map[string]any{"output_dtype": int(Int4)}))
		}, []string{"INT4[2,3]"}},
		{"quantize per channel", 13, func(b *Builder) []*Value {
			return valueList(b.Op("QuantizeLinear", []*Value{b.Input("w", Float, 8, 3, 3, 3), zerosF32(b, "s", 8), b.Const("z", Zeros(Int8, []int64{8}))}, map[string]any{"axis": 0}))
		}, []string{"INT8[8,3,3,3]"}},
		{"dequantize", 13, func(b *Builder) []*Value {
			return valueList(b.Op("DequantizeLinear", []*Value{b.Input("q", Int8, 2, 3), b.Const("s", Scalar(0.1))}, nil))
		}, []string{"FLOAT[2,3]"}},
		{"dequantize float16 scale opset 19", 19, func(b *Builder) []*Value {
			s := b.Const("s", MustTensor(Float16, nil, []uint16{Float32ToFloat16(0.1)}))
			return valueList(b.Op("DequantizeLinear", []*Value{b.Input("q", Int8, 2, 3), s}, nil))
		}, []string{"FLOAT16[2,3]"}},
		{"dynamic quantize", 13, func(b *Builder) []*Value {
			return b.OpN("DynamicQuantizeLinear", 3, []*Value{b.Input("x", Float, 2, 3)}, nil)
		}, []string{"UINT8[2,3]", "FLOAT[]", "UINT8[]"}},
	})
	runInferErrors(t, []errCase{
		{"per-channel scale of the wrong length", 13, func(b *Builder) {
			b.Op("QuantizeLinear", []*Value{b.Input("w", Float, 8, 3, 3, 3), zerosF32(b, "s", 4)}, map[string]any{"axis": 0})
		}, []string{"QuantizeLinear", "per-axis scale has 4 values", "8"}},
		{"zero point shape", 13, func(b *Builder) {
			b.Op("DequantizeLinear", []*Value{b.Input("q", Int8, 8, 3), zerosF32(b, "s", 8), b.Const("z", Zeros(Int8, []int64{3}))}, map[string]any{"axis": 0})
		}, []string{"zero point"}},
	})
}
