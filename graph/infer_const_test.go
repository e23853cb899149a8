package graph

import (
	"strings"
	"testing"
)

// Shape computations as exporters write them: the target shapes are
// computed from Shape of an activation, so they resolve statically only
// through constant propagation.
func TestInferConstantPropagation(t *testing.T) {
	// flattenChain builds x -> Shape -> Gather(0) -> Unsqueeze -> Concat(-1)
	// -> Reshape(x): PyTorch's x.view(x.size(0), -1).
	flattenChain := func(x *Value, b *Builder) *Value {
		sh := b.Op("Shape", []*Value{x}, nil)
		n := b.Op("Gather", []*Value{sh, b.Int64s("zero", nil, 0)}, map[string]any{"axis": 0})
		n1 := b.Op("Unsqueeze", []*Value{n, i64s(b, 0)}, nil)
		target := b.Op("Concat", []*Value{n1, i64s(b, -1)}, map[string]any{"axis": 0})
		return b.Op("Reshape", []*Value{x, target}, nil)
	}
	runInferCases(t, []inferCase{
		{"shape gather concat reshape static", 13, func(b *Builder) []*Value {
			return valueList(flattenChain(b.Input("x", Float, 2, 3, 4, 5), b))
		}, []string{"FLOAT[2,60]"}},
		{"shape gather concat reshape symbolic batch", 13, func(b *Builder) []*Value {
			return valueList(flattenChain(symIn(b, "x", Float, "N", 3, 4, 5), b))
		}, []string{"FLOAT[N,60]"}},
		{"resize sizes from shape arithmetic", 13, func(b *Builder) []*Value {
			// sizes = Concat(Shape(x)[:2], Cast(Cast(Shape(x)[2:], float) * 2, int64))
			x := symIn(b, "x", Float, "N", 8, 10, 12)
			sh := b.Op("Shape", []*Value{x}, nil)
			head := b.Op("Slice", []*Value{sh, i64s(b, 0), i64s(b, 2)}, nil)
			hw := b.Op("Slice", []*Value{sh, i64s(b, 2), i64s(b, 4)}, nil)
			f := b.Op("Cast", []*Value{hw}, map[string]any{"to": int(Float)})
			f2 := b.Op("Mul", []*Value{f, b.Const("two", Scalar(2))}, nil)
			i := b.Op("Cast", []*Value{b.Op("Floor", []*Value{f2}, nil)}, map[string]any{"to": int(Int64)})
			sizes := b.Op("Concat", []*Value{head, i}, map[string]any{"axis": 0})
			return valueList(b.Op("Resize", []*Value{x, nil, nil, sizes}, map[string]any{"mode": "nearest"}), sizes)
		}, []string{"FLOAT[N,8,20,24]", "INT64[4]"}},
		{"integer arithmetic and where", 13, func(b *Builder) []*Value {
			// target = Where(Equal(s, 0), Shape(x), s) with s = [0, 6, -1]
			// computed as Sub(Mul(Add(...)))
			x := b.Input("x", Float, 2, 6, 5)
			s := b.Op("Sub", []*Value{b.Op("Mul", []*Value{b.Op("Add", []*Value{i64s(b, 0, 2, 0), i64s(b, 0, 1, -1)}, nil), i64s(b, 1, 2, 1)}, nil), i64s(b, 0, 0, 0)}, nil)
			isZero := b.Op("Equal", []*Value{s, b.Int64s("z", nil, 0)}, nil)
			target := b.Op("Where", []*Value{isZero, b.Op("Shape", []*Value{x}, nil), s}, nil)
			return valueList(b.Op("Reshape", []*Value{x, target}, map[string]any{"allowzero": 1}))
		}, []string{"FLOAT[2,6,5]"}},
		{"division and modulo", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 4, 6)
			sh := b.Op("Shape", []*Value{x}, nil)
			half := b.Op("Div", []*Value{sh, i64s(b, 2, 3)}, nil)
			return valueList(b.Op("ConstantOfShape", []*Value{half}, nil), b.Op("ConstantOfShape", []*Value{b.Op("Mod", []*Value{sh, i64s(b, 3, 4)}, nil)}, nil))
		}, []string{"FLOAT[2,2]", "FLOAT[1,2]"}},
		{"range expand and tile from shapes", 13, func(b *Builder) []*Value {
			x := b.Input("x", Float, 3, 7)
			n := b.Op("Gather", []*Value{b.Op("Shape", []*Value{x}, nil), b.Int64s("one", nil, 1)}, nil)
			r := b.Op("Range", []*Value{b.Int64s("z", nil, 0), n, b.Int64s("d", nil, 1)}, nil)
			ones := b.Op("ConstantOfShape", []*Value{b.Op("Shape", []*Value{r}, nil)}, map[string]any{"value": MustTensor(Int64, []int64{1}, []int64{1})})
			e := b.Op("Expand", []*Value{b.Op("Unsqueeze", []*Value{r, i64s(b, 0)}, nil), b.Op("Shape", []*Value{x}, nil)}, nil)
			return valueList(r, ones, e, b.Op("Tile", []*Value{x, b.Op("Concat", []*Value{i64s(b, 2), b.Op("Slice", []*Value{ones, i64s(b, 0), i64s(b, 1)}, nil)}, map[string]any{"axis": 0})}, nil))
		}, []string{"INT64[7]", "INT64[7]", "INT64[3,7]", "FLOAT[6,7]"}},
		{"constant nodes as weights and shapes", 11, func(b *Builder) []*Value {
			// PaddleOCR keeps every weight and shape in Constant nodes.
			w := b.Op("Constant", nil, map[string]any{"value": MustTensor(Float, []int64{4, 3, 1, 1}, make([]float32, 12))})
			y := b.Op("Conv", []*Value{b.Input("x", Float, 1, 3, 8, 8), w}, nil)
			shape := b.Op("Constant", nil, map[string]any{"value": MustTensor(Int64, []int64{3}, []int64{0, 4, -1})})
			scales := b.Op("Constant", nil, map[string]any{"value": MustTensor(Float, []int64{4}, []float32{1, 1, 2, 2})})
			return valueList(b.Op("Reshape", []*Value{y, shape}, nil), b.Op("Resize", []*Value{y, b.Op("Constant", nil, map[string]any{"value_floats": []float32{}}), scales}, nil))
		}, []string{"FLOAT[1,4,64]", "FLOAT[1,4,16,16]"}},
		{"symbolic dims through concat of shapes", 13, func(b *Builder) []*Value {
			// [N, T, 8] -> Reshape(Concat(Shape(x)[:2], [2, 4])) keeps N and T
			x := symIn(b, "x", Float, "N", "T", 8)
			head := b.Op("Slice", []*Value{b.Op("Shape", []*Value{x}, nil), i64s(b, 0), i64s(b, 2)}, nil)
			y := b.Op("Reshape", []*Value{x, b.Op("Concat", []*Value{head, i64s(b, 2, 4)}, map[string]any{"axis": 0})}, nil)
			return valueList(y, b.Op("Reshape", []*Value{y, b.Op("Shape", []*Value{x}, nil)}, nil))
		}, []string{"FLOAT[N,T,2,4]", "FLOAT[N,T,8]"}},
	})
}

func TestInferControlFlow(t *testing.T) {
	branch := func(shape ...int64) *Graph {
		sub := NewBuilder(13)
		c := sub.Const("k", Zeros(Float, shape))
		out := sub.Op("Identity", []*Value{c}, nil)
		sub.Output(out)
		return sub.Graph()
	}
	runInferCases(t, []inferCase{
		{"if joins branches", 13, func(b *Builder) []*Value {
			return valueList(b.Op("If", []*Value{b.Input("c", Bool)}, map[string]any{"then_branch": branch(2, 3), "else_branch": branch(2, 4)}))
		}, []string{"FLOAT[2,?]"}},
		{"if with equal branches", 13, func(b *Builder) []*Value {
			return valueList(b.Op("If", []*Value{b.Input("c", Bool)}, map[string]any{"then_branch": branch(2, 3), "else_branch": branch(2, 3)}))
		}, []string{"FLOAT[2,3]"}},
		{"if with a known condition", 13, func(b *Builder) []*Value {
			cond := b.Const("c", MustTensor(Bool, nil, []bool{false}))
			return valueList(b.Op("If", []*Value{cond}, map[string]any{"then_branch": branch(2, 3), "else_branch": branch(5)}))
		}, []string{"FLOAT[5]"}},
		{"loop with a scan output", 13, func(b *Builder) []*Value {
			body := NewBuilder(13)
			body.Input("i", Int64)
			cond := body.Input("cond", Bool)
			y := body.Input("y", Float) // typed by the Loop rule
			y.Type = nil
			out := body.Op("Add", []*Value{y, body.Floats("one", []int64{1}, 1)}, nil)
			body.Output(body.Op("Identity", []*Value{cond}, nil), out, body.Op("Identity", []*Value{out}, nil))
			m := b.Int64s("m", nil, 5)
			outs := b.OpN("Loop", 2, []*Value{m, b.Const("t", MustTensor(Bool, nil, []bool{true})), b.Floats("y0", []int64{1}, 0)}, map[string]any{"body": body.Graph()})
			return append(outs, y, out)
		}, []string{"FLOAT[1]", "FLOAT[5,1]", "FLOAT[1]", "FLOAT[1]"}},
		{"loop that grows a value", 13, func(b *Builder) []*Value {
			body := NewBuilder(13)
			body.Input("i", Int64).Type = nil
			body.Input("cond", Bool).Type = nil
			cond := body.Graph().Inputs[1]
			y := body.Input("y", Float)
			y.Type = nil
			out := body.Op("Concat", []*Value{y, body.Floats("one", []int64{1, 2}, 1, 1)}, map[string]any{"axis": 0})
			body.Output(body.Op("Identity", []*Value{cond}, nil), out)
			outs := b.OpN("Loop", 1, []*Value{b.Input("m", Int64), nil, b.Floats("y0", []int64{1, 2}, 0, 0)}, map[string]any{"body": body.Graph()})
			return append(outs, y, out)
		}, []string{"FLOAT[?,2]", "FLOAT[?,2]", "FLOAT[?,2]"}},
	})
}

// TestInferKeepsDeclaredTypes checks how inference meets types the model
// already declares: it fills what is missing, keeps names, and fails on a
// contradiction.
func TestInferKeepsDeclaredTypes(t *testing.T) {
	build := func() (*Builder, *Value) {
		b := NewBuilder(13)
		x := symIn(b, "x", Float, "N", 1, 28, 28)
		return b, b.Op("Conv", []*Value{x, zerosF32(b, "w", 8, 1, 5, 5)}, nil)
	}
	b, y := build()
	y.Type = tensorTypeSym(ranked(Float, []symDim{{sym: "batch"}, unknownDim, unknownDim, knownDim(24)}))
	if err := InferShapes(b.Model()); err != nil {
		t.Fatal(err)
	}
	if got, _ := typeInfoOf(y); got.String() != "FLOAT[batch,8,24,24]" {
		t.Errorf("declared [batch,?,?,24] + inferred [N,8,24,24] = %s, want FLOAT[batch,8,24,24]", got)
	}

	b, y = build()
	y.Type = TensorType(Float, []int64{-1, 9, 24, 24})
	err := InferShapes(b.Model())
	if err == nil || !strings.Contains(err.Error(), "Conv") || !strings.Contains(err.Error(), y.Name) || !strings.Contains(err.Error(), "contradicts") {
		t.Errorf("a declared channel count of 9 for 8 inferred: error %v", err)
	}

	b, y = build()
	y.Type = TensorType(Int64, nil)
	if err := InferShapes(b.Model()); err == nil {
		t.Error("a declared INT64 output of a FLOAT Conv was accepted")
	}

	// Inputs are never changed, and a second run changes nothing.
	b, y = build()
	in := b.Graph().Inputs[0]
	inType := in.Type
	if err := InferShapes(b.Model()); err != nil {
		t.Fatal(err)
	}
	yType := y.Type
	if err := InferShapes(b.Model()); err != nil {
		t.Fatal(err)
	}
	if in.Type != inType || y.Type != yType {
		t.Error("a second InferShapes changed types")
	}
	if s, ok := StaticShape(y); ok {
		t.Errorf("StaticShape of [N,8,24,24] = %v, want not static", s)
	}
}

func TestInferUnknownOpsAndOrder(t *testing.T) {
	b := NewBuilder(13)
	x := b.Input("x", Float, 2, 3)
	r := b.Op("Relu", []*Value{x}, nil)
	custom := b.Op("MyOp", []*Value{r}, nil)
	custom.Producer.Domain = "com.example"
	after := b.Op("Relu", []*Value{custom}, nil)
	tail := b.Op("Sigmoid", []*Value{r}, nil)
	// Nodes out of order: inference must follow the data, not the list.
	g := b.Graph()
	g.Nodes[0], g.Nodes[len(g.Nodes)-1] = g.Nodes[len(g.Nodes)-1], g.Nodes[0]
	if err := InferShapes(b.Model()); err != nil {
		t.Fatal(err)
	}
	if custom.Type != nil || after.Type != nil {
		t.Errorf("values after an unknown op got types %v, %v", custom.Type, after.Type)
	}
	if s, ok := StaticShape(tail); !ok || len(s) != 2 {
		t.Errorf("Sigmoid after Relu: %v %v", s, ok)
	}
	if g.Nodes[0].OpType != "Sigmoid" {
		t.Error("InferShapes reordered the graph's nodes")
	}
}
