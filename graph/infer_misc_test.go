package graph

import "testing"

func TestInferSequenceAndSignalOps(t *testing.T) {
	runInferCases(t, []inferCase{
		{"lstm bidirectional", 13, func(b *Builder) []*Value {
			w, r := zerosF32(b, "w", 2, 4*5, 3), zerosF32(b, "r", 2, 4*5, 5)
			return b.OpN("LSTM", 3, []*Value{symIn(b, "x", Float, "T", "N", 3), w, r}, map[string]any{"hidden_size": 5, "direction": "bidirectional"})
		}, []string{"FLOAT[T,2,N,5]", "FLOAT[2,N,5]", "FLOAT[2,N,5]"}},
		{"gru layout 1", 14, func(b *Builder) []*Value {
			w, r := zerosF32(b, "w", 1, 3*4, 3), zerosF32(b, "r", 1, 3*4, 4)
			return b.OpN("GRU", 2, []*Value{b.Input("x", Float, 2, 7, 3), w, r}, map[string]any{"hidden_size": 4, "layout": 1})
		}, []string{"FLOAT[2,7,1,4]", "FLOAT[2,1,4]"}},
		{"rnn hidden size from R", 13, func(b *Builder) []*Value {
			return b.OpN("RNN", 2, []*Value{b.Input("x", Float, 7, 2, 3), zerosF32(b, "w", 1, 6, 3), zerosF32(b, "r", 1, 6, 6)}, nil)
		}, []string{"FLOAT[7,1,2,6]", "FLOAT[1,2,6]"}},
		{"einsum", 13, func(b *Builder) []*Value {
			x, y := symIn(b, "x", Float, "B", 3, 4), b.Input("y", Float, 4, 5)
			return valueList(
				b.Op("Einsum", []*Value{x, y}, map[string]any{"equation": "bij,jk->bik"}),
				b.Op("Einsum", []*Value{x, y}, map[string]any{"equation": "...j,jk"}),
				b.Op("Einsum", []*Value{x}, map[string]any{"equation": "bij->"}),
				b.Op("Einsum", []*Value{b.Input("z", Float, 3, 3)}, map[string]any{"equation": "ii->i"}),
				b.Op("Einsum", []*Value{x, y}, map[string]any{"equation": "bij, jk"}),
			)
		}, []string{"FLOAT[B,3,5]", "FLOAT[B,3,5]", "FLOAT[]", "FLOAT[3]", "FLOAT[B,3,5]"}},
		{"windows, dft, stft, mel", 17, func(b *Builder) []*Value {
			n := b.Int64s("n", nil, 10)
			sig := b.Input("s", Float, 2, 64, 1)
			return valueList(
				b.Op("HannWindow", []*Value{n}, nil),
				b.Op("BlackmanWindow", []*Value{n}, map[string]any{"output_datatype": int(Double)}),
				b.Op("DFT", []*Value{sig}, nil),
				b.Op("DFT", []*Value{sig, b.Int64s("l", nil, 16)}, map[string]any{"onesided": 1}),
				b.Op("STFT", []*Value{sig, b.Int64s("step", nil, 8), zerosF32(b, "w", 16)}, nil),
				b.Op("MelWeightMatrix", []*Value{b.Int64s("m", nil, 8), b.Int64s("d", nil, 16), b.Int64s("r", nil, 8000), b.Const("lo", Scalar(0)), b.Const("hi", Scalar(4000))}, nil),
			)
		}, []string{"FLOAT[10]", "DOUBLE[10]", "FLOAT[2,64,2]", "FLOAT[2,9,2]", "FLOAT[2,7,9,2]", "FLOAT[9,8]"}},
		{"compress and nonzero of known values", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 3, 2)
			cond := b.Const("c", MustTensor(Bool, []int64{3}, []bool{true, false, true}))
			return valueList(
				b.Op("Compress", []*Value{x, cond}, map[string]any{"axis": 0}),
				b.Op("Compress", []*Value{x, cond}, nil),
				b.Op("Compress", []*Value{x, b.Input("d", Bool, 3)}, map[string]any{"axis": 0}),
				b.Op("NonZero", []*Value{b.Int64s("v", []int64{2, 2}, 0, 1, 2, 0)}, nil),
				b.Op("NonZero", []*Value{x}, nil),
			)
		}, []string{"FLOAT[2,2]", "FLOAT[2]", "FLOAT[?,2]", "INT64[2,2]", "INT64[2,?]"}},
	})
	runInferErrors(t, []errCase{
		{"einsum letter mismatch", 13, func(b *Builder) {
			b.Op("Einsum", []*Value{b.Input("x", Float, 3, 4), b.Input("y", Float, 5, 6)}, map[string]any{"equation": "ij,jk->ik"})
		}, []string{"Einsum", "letter 'j'"}},
		{"einsum operand count", 13, func(b *Builder) {
			b.Op("Einsum", []*Value{b.Input("x", Float, 3, 4)}, map[string]any{"equation": "ij,jk->ik"})
		}, []string{"2 operands for 1 inputs"}},
	})
}
