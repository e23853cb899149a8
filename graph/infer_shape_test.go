package graph

import "testing"

func TestInferElementwise(t *testing.T) {
	runInferCases(t, []inferCase{
		{"add broadcast", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Add", []*Value{b.Input("a", Float, 2, 1, 4), b.Input("b", Float, 3, 1)}, nil))
		}, []string{"FLOAT[2,3,4]"}},
		{"mul symbolic batch", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Mul", []*Value{symIn(b, "a", Float, "N", 3), zerosF32(b, "s", 3)}, nil))
		}, []string{"FLOAT[N,3]"}},
		{"broadcast unknown with n", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Sub", []*Value{symIn(b, "a", Float, -1, "T"), symIn(b, "b", Float, 5, "U")}, nil))
		}, []string{"FLOAT[5,?]"}},
		{"variadic", 13, func(b *Builder) []*Value {
			x, y, z := b.Input("x", Float, 3, 1), b.Input("y", Float, 1, 4), b.Input("z", Float, 4)
			return valueList(b.Op("Sum", []*Value{x, y, z}, nil), b.Op("Max", []*Value{x, y}, nil), b.Op("Mean", []*Value{x}, nil))
		}, []string{"FLOAT[3,4]", "FLOAT[3,4]", "FLOAT[3,1]"}},
		{"comparisons give bool", 13, func(b *Builder) []*Value {
			x, y := b.Input("x", Float, 2, 3), b.Input("y", Float, 3)
			eq := b.Op("Equal", []*Value{x, y}, nil)
			return valueList(eq, b.Op("Less", []*Value{x, y}, nil), b.Op("Greater", []*Value{x, y}, nil),
				b.Op("Not", []*Value{eq}, nil), b.Op("And", []*Value{eq, eq}, nil), b.Op("Or", []*Value{eq, eq}, nil))
		}, []string{"BOOL[2,3]", "BOOL[2,3]", "BOOL[2,3]", "BOOL[2,3]", "BOOL[2,3]", "BOOL[2,3]"}},
		{"where", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Where", []*Value{b.Input("c", Bool, 2, 1), b.Input("x", Int32, 3), b.Input("y", Int32, 1, 3)}, nil))
		}, []string{"INT32[2,3]"}},
		{"prelu", 13, func(b *Builder) []*Value {
			return valueList(b.Op("PRelu", []*Value{symIn(b, "x", Float, "N", 3, 4, 4), zerosF32(b, "s", 3, 1, 1)}, nil))
		}, []string{"FLOAT[N,3,4,4]"}},
		{"unary keep type", 13, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", 3)
			var out []*Value
			for _, op := range []string{"Sqrt", "Reciprocal", "Exp", "Log", "Neg", "Abs", "Erf", "Relu", "LeakyRelu", "Sigmoid",
				"HardSigmoid", "HardSwish", "Tanh", "Softmax", "LogSoftmax", "Sign", "Floor", "Ceil", "Round", "Identity"} {
				out = append(out, b.Op(op, []*Value{x}, nil))
			}
			out = append(out, b.Op("Clip", []*Value{x, b.Const("lo", Scalar(0)), b.Const("hi", Scalar(6))}, nil))
			out = append(out, b.Op("Pow", []*Value{x, b.Const("e", Scalar(2))}, nil))
			out = append(out, b.Op("Div", []*Value{x, x}, nil))
			return out
		}, repeatString("FLOAT[N,3]", 23)},
		{"cast opset 1 type name", 1, func(b *Builder) []*Value {
			return valueList(b.Op("Cast", []*Value{b.Input("x", Float, 2)}, map[string]any{"to": "int32"}))
		}, []string{"INT32[2]"}},
		{"clip opset 6 attributes", 6, func(b *Builder) []*Value {
			return valueList(b.Op("Clip", []*Value{b.Input("x", Float, 4)}, map[string]any{"min": float32(0), "max": float32(6)}))
		}, []string{"FLOAT[4]"}},
		{"cast and castlike", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 2, 3)
			return valueList(b.Op("Cast", []*Value{x}, map[string]any{"to": int(Int64)}), b.Op("CastLike", []*Value{x, b.Input("y", Float16, 1)}, nil))
		}, []string{"INT64[2,3]", "FLOAT16[2,3]"}},
	})
	runInferErrors(t, []errCase{
		{"add does not broadcast", 13, func(b *Builder) {
			b.Op("Add", []*Value{b.Input("a", Float, 2, 3), b.Input("b", Float, 4)}, nil)
		}, []string{"Add", "do not broadcast"}},
	})
}

func repeatString(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestInferReductions(t *testing.T) {
	x := func(b *Builder) *Value { return b.Input("x", Float, 2, 3, 4) }
	runInferCases(t, []inferCase{
		{"reducemean axes attribute opset 13", 13, func(b *Builder) []*Value {
			return valueList(
				b.Op("ReduceMean", []*Value{x(b)}, map[string]any{"axes": []int64{1}, "keepdims": 0}),
				b.Op("ReduceMax", []*Value{x(b)}, map[string]any{"axes": []int64{-1}}),
				b.Op("ReduceMin", []*Value{x(b)}, nil),
				b.Op("ReduceProd", []*Value{x(b)}, map[string]any{"keepdims": 0}),
				b.Op("ReduceL2", []*Value{x(b)}, map[string]any{"axes": []int64{0, 2}}),
			)
		}, []string{"FLOAT[2,4]", "FLOAT[2,3,1]", "FLOAT[1,1,1]", "FLOAT[]", "FLOAT[1,3,1]"}},
		{"reducemean axes input opset 18", 18, func(b *Builder) []*Value {
			return valueList(
				b.Op("ReduceMean", []*Value{x(b), i64s(b, -1)}, nil),
				b.Op("ReduceMean", []*Value{x(b)}, map[string]any{"keepdims": 0}),
				b.Op("ReduceMean", []*Value{x(b), b.Int64s("e", []int64{0})}, map[string]any{"noop_with_empty_axes": 1}),
				b.Op("ReduceMean", []*Value{x(b), b.Input("axes", Int64, 1)}, nil),
			)
		}, []string{"FLOAT[2,3,1]", "FLOAT[]", "FLOAT[2,3,4]", "FLOAT[?,?,?]"}},
		{"reducesum axes input opset 13", 13, func(b *Builder) []*Value {
			return valueList(
				b.Op("ReduceSum", []*Value{x(b), i64s(b, 1)}, map[string]any{"keepdims": 0}),
				b.Op("ReduceSum", []*Value{x(b)}, nil),
				b.Op("ReduceSum", []*Value{x(b)}, map[string]any{"noop_with_empty_axes": 1}),
			)
		}, []string{"FLOAT[2,4]", "FLOAT[1,1,1]", "FLOAT[2,3,4]"}},
		{"argmax", 13, func(b *Builder) []*Value {
			return valueList(b.Op("ArgMax", []*Value{x(b)}, map[string]any{"axis": 1, "keepdims": 0}), b.Op("ArgMin", []*Value{x(b)}, nil))
		}, []string{"INT64[2,4]", "INT64[1,3,4]"}},
		{"topk", 11, func(b *Builder) []*Value {
			return b.OpN("TopK", 2, []*Value{x(b), i64s(b, 2)}, nil)
		}, []string{"FLOAT[2,3,2]", "INT64[2,3,2]"}},
		{"topk opset 1", 1, func(b *Builder) []*Value {
			return b.OpN("TopK", 2, []*Value{x(b)}, map[string]any{"k": 2, "axis": 1})
		}, []string{"FLOAT[2,2,4]", "INT64[2,2,4]"}},
	})
	runInferErrors(t, []errCase{
		{"topk K too large", 11, func(b *Builder) { b.OpN("TopK", 2, []*Value{x(b), i64s(b, 5)}, nil) }, []string{"K=5"}},
		{"reduce axis out of range", 13, func(b *Builder) { b.Op("ReduceMean", []*Value{x(b)}, map[string]any{"axes": []int64{3}}) }, []string{"axis 3"}},
	})
}

func TestInferShapeOps(t *testing.T) {
	runInferCases(t, []inferCase{
		{"reshape 0 and -1", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 2, 3, 4)
			return valueList(b.Op("Reshape", []*Value{x, i64s(b, 0, -1)}, nil), b.Op("Reshape", []*Value{x, i64s(b, 4, -1)}, nil), b.Op("Reshape", []*Value{x, i64s(b, -1)}, nil))
		}, []string{"FLOAT[2,12]", "FLOAT[4,6]", "FLOAT[24]"}},
		{"reshape allowzero", 14, func(b *Builder) []*Value {
			x := b.Input("x", Float, 0, 3, 4)
			return valueList(b.Op("Reshape", []*Value{x, i64s(b, 3, 4, 0)}, map[string]any{"allowzero": 1}), b.Op("Reshape", []*Value{x, i64s(b, 0, 4, 3)}, nil))
		}, []string{"FLOAT[3,4,0]", "FLOAT[0,4,3]"}},
		{"reshape opset 1 attribute", 1, func(b *Builder) []*Value {
			return valueList(b.Op("Reshape", []*Value{b.Input("x", Float, 2, 3, 4)}, map[string]any{"shape": []int64{-1, 4}}))
		}, []string{"FLOAT[6,4]"}},
		{"reshape symbolic -1", 13, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", 3, "L")
			return valueList(b.Op("Reshape", []*Value{x, i64s(b, 3, -1)}, nil), b.Op("Reshape", []*Value{x, i64s(b, 0, 0, -1, 1)}, nil))
		}, []string{"FLOAT[3,?]", "FLOAT[N,3,L,1]"}},
		{"reshape unknown target of known length", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Reshape", []*Value{b.Input("x", Float, 2, 3), b.Input("s", Int64, 3)}, nil))
		}, []string{"FLOAT[?,?,?]"}},
		{"flatten", 13, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", 3, 4, 5)
			return valueList(b.Op("Flatten", []*Value{x}, nil), b.Op("Flatten", []*Value{x}, map[string]any{"axis": 0}),
				b.Op("Flatten", []*Value{x}, map[string]any{"axis": -1}), b.Op("Flatten", []*Value{b.Input("y", Float, 2, 3, 4)}, map[string]any{"axis": 2}))
		}, []string{"FLOAT[N,60]", "FLOAT[1,?]", "FLOAT[?,5]", "FLOAT[6,4]"}},
		{"transpose", 13, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", 2, 3)
			return valueList(b.Op("Transpose", []*Value{x}, map[string]any{"perm": []int64{2, 0, 1}}), b.Op("Transpose", []*Value{x}, nil))
		}, []string{"FLOAT[3,N,2]", "FLOAT[3,2,N]"}},
		{"squeeze opset 11 and 13", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 1, 3, 1)
			return valueList(b.Op("Squeeze", []*Value{x, i64s(b, 0)}, nil), b.Op("Squeeze", []*Value{x}, nil), b.Op("Squeeze", []*Value{x, i64s(b, -1, 0)}, nil))
		}, []string{"FLOAT[3,1]", "FLOAT[3]", "FLOAT[3]"}},
		{"squeeze attribute", 11, func(b *Builder) []*Value {
			return valueList(b.Op("Squeeze", []*Value{symIn(b, "x", Float, 1, "C", 1)}, map[string]any{"axes": []int64{2}}))
		}, []string{"FLOAT[1,C]"}},
		{"unsqueeze attribute opset 11", 11, func(b *Builder) []*Value {
			return valueList(b.Op("Unsqueeze", []*Value{b.Input("x", Float, 3, 4)}, map[string]any{"axes": []int64{0, 3}}))
		}, []string{"FLOAT[1,3,4,1]"}},
		{"unsqueeze input opset 13", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Unsqueeze", []*Value{symIn(b, "x", Float, "N", 4), i64s(b, -1, 1)}, nil))
		}, []string{"FLOAT[N,1,4,1]"}},
		{"expand", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Expand", []*Value{b.Input("x", Float, 3, 1), i64s(b, 2, 1, 6)}, nil))
		}, []string{"FLOAT[2,3,6]"}},
		{"tile", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Tile", []*Value{symIn(b, "x", Float, "N", 2, 3), i64s(b, 1, 2, 2)}, nil))
		}, []string{"FLOAT[N,4,6]"}},
		{"concat", 13, func(b *Builder) []*Value {
			x, y := symIn(b, "x", Float, "N", 3), symIn(b, "y", Float, "N", 5)
			return valueList(b.Op("Concat", []*Value{x, y}, map[string]any{"axis": 1}), b.Op("Concat", []*Value{x, x}, map[string]any{"axis": 0}),
				b.Op("Concat", []*Value{x, y, x}, map[string]any{"axis": -1}))
		}, []string{"FLOAT[N,8]", "FLOAT[?,3]", "FLOAT[N,11]"}},
		{"split sizes input opset 13", 13, func(b *Builder) []*Value {
			return b.OpN("Split", 2, []*Value{b.Input("x", Float, 6, 3), i64s(b, 2, 4)}, nil)
		}, []string{"FLOAT[2,3]", "FLOAT[4,3]"}},
		{"split attribute opset 11", 11, func(b *Builder) []*Value {
			return b.OpN("Split", 2, []*Value{b.Input("x", Float, 2, 5)}, map[string]any{"axis": 1, "split": []int64{1, 4}})
		}, []string{"FLOAT[2,1]", "FLOAT[2,4]"}},
		{"split equal", 13, func(b *Builder) []*Value {
			return b.OpN("Split", 3, []*Value{b.Input("x", Float, 6)}, nil)
		}, []string{"FLOAT[2]", "FLOAT[2]", "FLOAT[2]"}},
		{"split num_outputs opset 18", 18, func(b *Builder) []*Value {
			return b.OpN("Split", 3, []*Value{b.Input("x", Float, 7)}, map[string]any{"num_outputs": 3})
		}, []string{"FLOAT[3]", "FLOAT[3]", "FLOAT[1]"}},
		{"slice", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 10, 20, 30)
			big := int64(1) << 62
			return valueList(
				b.Op("Slice", []*Value{x, i64s(b, 0, 5), i64s(b, 5, -1), i64s(b, 0, 2)}, nil),
				b.Op("Slice", []*Value{x, i64s(b, -1), i64s(b, -big), i64s(b, 1), i64s(b, -1)}, nil),
				b.Op("Slice", []*Value{x, i64s(b, 1), i64s(b, big), i64s(b, 2), i64s(b, 3)}, nil),
				b.Op("Slice", []*Value{x, i64s(b, 20), i64s(b, 30)}, nil),
			)
		}, []string{"FLOAT[5,20,24]", "FLOAT[10,20,30]", "FLOAT[10,20,10]", "FLOAT[0,20,30]"}},
		{"slice opset 9 attributes", 9, func(b *Builder) []*Value {
			return valueList(b.Op("Slice", []*Value{b.Input("x", Float, 10, 20)}, map[string]any{"starts": []int64{2}, "ends": []int64{-2}, "axes": []int64{1}}))
		}, []string{"FLOAT[10,16]"}},
		{"slice keeps an unknown dim taken whole", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Slice", []*Value{symIn(b, "x", Float, "N", 20), i64s(b, 0, 1), i64s(b, 1<<62, 3), i64s(b, 0, 1)}, nil))
		}, []string{"FLOAT[N,2]"}},
		{"gather", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 5, 4, 3)
			return valueList(b.Op("Gather", []*Value{x, b.Int64s("i", []int64{2, 2}, 0, 1, 2, 3)}, map[string]any{"axis": 1}),
				b.Op("Gather", []*Value{x, b.Int64s("i", nil, 1)}, nil))
		}, []string{"FLOAT[5,2,2,3]", "FLOAT[4,3]"}},
		{"shape and size", 15, func(b *Builder) []*Value {
			x := b.Input("x", Float, 2, 3, 4)
			return valueList(b.Op("Shape", []*Value{x}, nil), b.Op("Shape", []*Value{x}, map[string]any{"start": 1}),
				b.Op("Shape", []*Value{x}, map[string]any{"start": -1}), b.Op("Size", []*Value{x}, nil))
		}, []string{"INT64[3]", "INT64[2]", "INT64[1]", "INT64[]"}},
		{"constantofshape", 13, func(b *Builder) []*Value {
			return valueList(b.Op("ConstantOfShape", []*Value{i64s(b, 2, 3)}, map[string]any{"value": MustTensor(Int32, []int64{1}, []int32{7})}),
				b.Op("ConstantOfShape", []*Value{i64s(b, 4)}, nil))
		}, []string{"INT32[2,3]", "FLOAT[4]"}},
		{"constant", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Constant", nil, map[string]any{"value_ints": []int64{1, 2, 3}}),
				b.Op("Constant", nil, map[string]any{"value": MustTensor(Float, []int64{2, 2}, make([]float32, 4))}),
				b.Op("Constant", nil, map[string]any{"value_float": float32(1)}))
		}, []string{"INT64[3]", "FLOAT[2,2]", "FLOAT[]"}},
		{"pad input opset 11", 11, func(b *Builder) []*Value {
			return valueList(b.Op("Pad", []*Value{symIn(b, "x", Float, "N", 3, 4, 4), i64s(b, 0, 0, 1, 1, 0, 0, 1, 2)}, nil))
		}, []string{"FLOAT[N,3,6,7]"}},
		{"pad attribute opset 2", 2, func(b *Builder) []*Value {
			return valueList(b.Op("Pad", []*Value{b.Input("x", Float, 3, 4)}, map[string]any{"pads": []int64{1, 0, 1, 0}}))
		}, []string{"FLOAT[5,4]"}},
		{"pad axes opset 18", 18, func(b *Builder) []*Value {
			return valueList(b.Op("Pad", []*Value{b.Input("x", Float, 1, 3, 4, 4), i64s(b, 1, 1, 2, 2), nil, i64s(b, 2, 3)}, nil))
		}, []string{"FLOAT[1,3,7,7]"}},
		{"range", 13, func(b *Builder) []*Value {
			sc := func(v int64) *Value { return b.Int64s("r", nil, v) }
			fs := func(v float32) *Value { return b.Const("f", Scalar(v)) }
			return valueList(b.Op("Range", []*Value{sc(0), sc(10), sc(3)}, nil), b.Op("Range", []*Value{fs(1), fs(2), fs(0.3)}, nil),
				b.Op("Range", []*Value{sc(10), sc(0), sc(1)}, nil))
		}, []string{"INT64[4]", "FLOAT[4]", "INT64[0]"}},
		{"resize scales opset 11", 11, func(b *Builder) []*Value {
			x := symIn(b, "x", Float, "N", 3, 4, 5)
			return valueList(b.Op("Resize", []*Value{x, zerosF32(b, "roi", 0), b.Floats("s", []int64{4}, 1, 1, 2, 2.5)}, nil))
		}, []string{"FLOAT[N,3,8,12]"}},
		{"resize sizes opset 13", 13, func(b *Builder) []*Value {
			return valueList(b.Op("Resize", []*Value{b.Input("x", Float, 1, 3, 4, 4), nil, nil, i64s(b, 1, 3, 5, 6)}, nil))
		}, []string{"FLOAT[1,3,5,6]"}},
		{"resize opset 10", 10, func(b *Builder) []*Value {
			return valueList(b.Op("Resize", []*Value{b.Input("x", Float, 1, 3, 4, 4), b.Floats("s", []int64{4}, 1, 1, 0.5, 2)}, nil))
		}, []string{"FLOAT[1,3,2,8]"}},
		{"resize axes and aspect ratio opset 18", 18, func(b *Builder) []*Value {
			x := b.Input("x", Float, 1, 3, 4, 8)
			return valueList(b.Op("Resize", []*Value{x, nil, nil, i64s(b, 5, 6)}, map[string]any{"axes": []int64{2, 3}}),
				b.Op("Resize", []*Value{x, nil, nil, i64s(b, 4, 4)}, map[string]any{"axes": []int64{2, 3}, "keep_aspect_ratio_policy": "not_larger"}),
				b.Op("Resize", []*Value{x, nil, nil, i64s(b, 4, 4)}, map[string]any{"axes": []int64{2, 3}, "keep_aspect_ratio_policy": "not_smaller"}))
		}, []string{"FLOAT[1,3,5,6]", "FLOAT[1,3,2,4]", "FLOAT[1,3,4,8]"}},
		{"upsample", 9, func(b *Builder) []*Value {
			return valueList(b.Op("Upsample", []*Value{b.Input("x", Float, 1, 3, 4, 4), b.Floats("s", []int64{4}, 1, 1, 2, 3)}, nil))
		}, []string{"FLOAT[1,3,8,12]"}},
		{"upsample opset 7 attribute", 7, func(b *Builder) []*Value {
			return valueList(b.Op("Upsample", []*Value{b.Input("x", Float, 1, 3, 4, 4)}, map[string]any{"scales": []float32{1, 1, 2, 2}}))
		}, []string{"FLOAT[1,3,8,8]"}},
	})
	runInferErrors(t, []errCase{
		{"reshape count", 13, func(b *Builder) { b.Op("Reshape", []*Value{b.Input("x", Float, 2, 3, 4), i64s(b, 5, 5)}, nil) }, []string{"Reshape", "24 elements", "25 elements"}},
		{"reshape -1 does not divide", 13, func(b *Builder) { b.Op("Reshape", []*Value{b.Input("x", Float, 2, 3, 4), i64s(b, 5, -1)}, nil) }, []string{"cannot reshape"}},
		{"reshape two -1", 13, func(b *Builder) { b.Op("Reshape", []*Value{b.Input("x", Float, 2, 3), i64s(b, -1, -1)}, nil) }, []string{"more than one -1"}},
		{"concat mismatch", 13, func(b *Builder) {
			b.Op("Concat", []*Value{b.Input("x", Float, 2, 3), b.Input("y", Float, 3, 5)}, map[string]any{"axis": 1})
		}, []string{"Concat", "dim 0"}},
		{"split sizes", 13, func(b *Builder) { b.OpN("Split", 2, []*Value{b.Input("x", Float, 6), i64s(b, 2, 3)}, nil) }, []string{"add up to 5"}},
		{"squeeze non-1 dim", 13, func(b *Builder) { b.Op("Squeeze", []*Value{b.Input("x", Float, 1, 3), i64s(b, 1)}, nil) }, []string{"size 3"}},
		{"transpose perm", 13, func(b *Builder) {
			b.Op("Transpose", []*Value{b.Input("x", Float, 1, 3)}, map[string]any{"perm": []int64{0, 0}})
		}, []string{"permutation"}},
		{"gather index out of range", 13, func(b *Builder) { b.Op("Gather", []*Value{b.Input("x", Float, 3, 4), i64s(b, 3)}, nil) }, []string{"index 3"}},
		{"resize scales length", 13, func(b *Builder) {
			b.Op("Resize", []*Value{b.Input("x", Float, 1, 3, 4, 4), nil, b.Floats("s", []int64{2}, 2, 2)}, nil)
		}, []string{"scales has 2 values"}},
		{"expand", 13, func(b *Builder) { b.Op("Expand", []*Value{b.Input("x", Float, 3, 2), i64s(b, 3, 4)}, nil) }, []string{"cannot expand"}},
	})
}
