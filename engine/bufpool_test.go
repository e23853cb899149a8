package engine

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// aliasModel builds a model whose values share buffers in every way the
// runner must respect when it recycles buffers and runs kernels in place:
// views (Reshape, Identity, Squeeze) of computed values, of a graph input
// and of an initializer feeding element-wise ops, a value read twice by
// one node, a graph output read by a later node, a kept value, a node
// output nothing reads, a Constant (whose tensor the kernel caches across
// runs) feeding an op that could run in place, an If whose branches
// return a branch Constant and a branch initializer, a Loop carrying a
// value with a scan output, and a Q/DQ chain whose uint8 buffers are
// recycled while a view of one is still to be read.
func aliasModel(t *testing.T) (*graph.Model, map[string]*graph.Tensor, []*graph.Value) {
	t.Helper()
	b := graph.NewBuilder(13)
	m := b.Model()
	x := b.Input("x", graph.Float, 2, 3, 4)
	cond := b.Input("cond", graph.Bool)
	w := b.Floats("w", []int64{2, 3, 4}, seq(24, 0.25, -3)...)
	shape64 := b.Int64s("shape64", []int64{2}, 6, 4)
	shape234 := b.Int64s("shape234", []int64{3}, 2, 3, 4)
	starts, ends, axes := b.Int64s("starts", []int64{1}, 1), b.Int64s("ends", []int64{1}, 5), b.Int64s("axes", []int64{1}, 0)

	c := b.Op("Constant", nil, map[string]any{"value": graph.MustTensor(graph.Float, []int64{2, 3, 4}, seq(24, -0.5, 4))})
	negC := b.Op("Neg", []*graph.Value{c}, nil)                   // in place on a cached Constant tensor?
	a := b.Op("Add", []*graph.Value{x, w}, nil)                   // fresh
	r := b.Op("Reshape", []*graph.Value{a, shape64}, nil)         // view of a, a dies here
	sq := b.Op("Mul", []*graph.Value{r, r}, nil)                  // read twice by one node
	id := b.Op("Identity", []*graph.Value{x}, nil)                // view of a graph input
	reluX := b.Op("Relu", []*graph.Value{id}, nil)                // must not overwrite x
	idW := b.Op("Identity", []*graph.Value{w}, nil)               // view of an initializer
	negW := b.Op("Neg", []*graph.Value{idW}, nil)                 // must not overwrite w
	sig := b.Op("Sigmoid", []*graph.Value{sq}, nil)               // graph output, read again below
	relu6 := b.Op("Reshape", []*graph.Value{reluX, shape64}, nil) // view of a computed value
	prod := b.Op("Mul", []*graph.Value{sig, relu6}, nil)          // reads an output
	sl := b.Op("Slice", []*graph.Value{prod, starts, ends, axes}, nil)
	parts := b.OpN("Split", 2, []*graph.Value{prod}, map[string]any{"axis": int64(0)}) // parts[1] unread
	twice := b.Op("Concat", []*graph.Value{parts[0], parts[0]}, map[string]any{"axis": int64(0)})
	back := b.Op("Reshape", []*graph.Value{twice, shape234}, nil)
	kept := b.Op("Exp", []*graph.Value{negC}, nil) // kept, and read below
	mix := b.Op("Sub", []*graph.Value{kept, negW}, nil)
	tanh := b.Op("Tanh", []*graph.Value{back}, nil)

	// If: then returns a Constant of the branch, else an initializer of
	// the branch; Neg could run in place on either.
	branch := func(name string, constant bool) *graph.Graph {
		g := &graph.Graph{Name: name, Parent: m.Graph}
		nm := graph.NewNamer(g)
		val := graph.MustTensor(graph.Float, []int64{4}, []float32{1, -2, 3, -4})
		if constant {
			n := g.NewNode(nm, "Constant", "", nil, []string{name + "_c"}, map[string]any{"value": val})
			g.Outputs = n.Outputs
		} else {
			g.Outputs = []*graph.Value{g.AddInitializer(nm, name+"_init", val)}
		}
		return g
	}
	ifNode := m.Graph.NewNode(graph.NewNamer(m.Graph), "If", "", []*graph.Value{cond}, []string{"if_out"}, nil)
	ifNode.SetAttr("then_branch", branch("then", true))
	ifNode.SetAttr("else_branch", branch("else", false))
	negIf := b.Op("Neg", []*graph.Value{ifNode.Outputs[0]}, nil)

	// Loop: 3 iterations of v = Relu(v - 1) * x-slice..., scanning v + 1.
	body := &graph.Graph{Name: "body", Parent: m.Graph}
	bn := graph.NewNamer(body)
	iter := &graph.Value{Name: bn.Name("iter"), Graph: body, Type: graph.TensorType(graph.Int64, nil)}
	bcond := &graph.Value{Name: bn.Name("bcond"), Graph: body, Type: graph.TensorType(graph.Bool, nil)}
	v := &graph.Value{Name: bn.Name("v"), Graph: body, Type: graph.TensorType(graph.Float, []int64{2, 3, 4})}
	body.Inputs = []*graph.Value{iter, bcond, v}
	one := body.AddInitializer(bn, "one", graph.MustTensor(graph.Float, nil, []float32{1}))
	dec := body.NewNode(bn, "Sub", "", []*graph.Value{v, one}, []string{"dec"}, nil).Outputs[0]
	rl := body.NewNode(bn, "Relu", "", []*graph.Value{dec}, []string{"rl"}, nil).Outputs[0]
	nv := body.NewNode(bn, "Mul", "", []*graph.Value{rl, a}, []string{"nv"}, nil).Outputs[0] // reads an outer value
	scan := body.NewNode(bn, "Add", "", []*graph.Value{nv, one}, []string{"scan"}, nil).Outputs[0]
	cout := body.NewNode(bn, "Identity", "", []*graph.Value{bcond}, []string{"cout"}, nil).Outputs[0]
	body.Outputs = []*graph.Value{cout, nv, scan}
	trips := b.Int64s("trips", nil, 3)
	loop := m.Graph.NewNode(graph.NewNamer(m.Graph), "Loop", "", []*graph.Value{trips, cond, tanh}, []string{"loop_v", "loop_scan"}, nil)
	loop.SetAttr("body", body)
	afterLoop := b.Op("Add", []*graph.Value{loop.Outputs[0], tanh}, nil)

	// Q/DQ: uint8 buffers are recycled too (a view of one feeds
	// DequantizeLinear; a uint8 graph output).
	qs, qz := b.Floats("qscale", nil, 0.05), b.Const("qzero", graph.MustTensor(graph.Uint8, nil, []uint8{128}))
	q := b.Op("QuantizeLinear", []*graph.Value{prod, qs, qz}, nil)
	qflat := b.Op("Reshape", []*graph.Value{q, b.Int64s("flat", []int64{1}, 24)}, nil) // q dies, its view lives
	qneg := b.Op("QuantizeLinear", []*graph.Value{b.Op("Neg", []*graph.Value{prod}, nil), qs, qz}, nil)
	dq := b.Op("DequantizeLinear", []*graph.Value{qflat, qs, qz}, nil)
	dqneg := b.Op("DequantizeLinear", []*graph.Value{qneg, qs, qz}, nil)
	q2 := b.Op("QuantizeLinear", []*graph.Value{dqneg, qs, qz}, nil)
	dq2 := b.Op("DequantizeLinear", []*graph.Value{q2, qs, qz}, nil)
	q3 := b.Op("QuantizeLinear", []*graph.Value{dq2, qs, qz}, nil)

	b.Output(sig, sl, mix, negIf, afterLoop, loop.Outputs[1], negC, q3, dq, dq2)
	in := map[string]*graph.Tensor{
		"x":    graph.MustTensor(graph.Float, []int64{2, 3, 4}, seq(24, 0.5, -5)),
		"cond": graph.MustTensor(graph.Bool, nil, []bool{true}),
	}
	return m, in, []*graph.Value{kept, a, r}
}

// seq returns n values start, start+step, ...
func seq(n int, step, start float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = start + float32(i)*step
	}
	return s
}

// sameBits reports whether two result maps hold bit-identical tensors.
func sameBits(a, b map[string]*graph.Tensor) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d results vs %d", len(a), len(b))
	}
	for name, ta := range a {
		tb := b[name]
		if tb == nil || ta.DType != tb.DType || !slices.Equal(ta.Shape, tb.Shape) {
			return fmt.Errorf("%s: %s %v vs %v", name, ta.DType, ta.Shape, tb)
		}
		fa, ok := ta.Data.([]float32)
		if !ok {
			if !reflect.DeepEqual(ta.Data, tb.Data) {
				return fmt.Errorf("%s: %v vs %v", name, ta.Data, tb.Data)
			}
			continue
		}
		fb := tb.Data.([]float32)
		for i := range fa {
			if math.Float32bits(fa[i]) != math.Float32bits(fb[i]) {
				return fmt.Errorf("%s[%d]: %v vs %v", name, i, fa[i], fb[i])
			}
		}
	}
	return nil
}

// cloneResults copies results so that later runs cannot change them.
func cloneResults(res map[string]*graph.Tensor) map[string]*graph.Tensor {
	out := map[string]*graph.Tensor{}
	for k, t := range res {
		c := *t
		switch d := t.Data.(type) {
		case []float32:
			c.Data = append([]float32{}, d...)
		case []uint8:
			c.Data = append([]uint8{}, d...)
		default:
			panic(fmt.Sprintf("cloneResults: %T", t.Data))
		}
		out[k] = &c
	}
	return out
}

// TestRecyclingMatchesFresh runs the aliasing model repeatedly, with both
// If branches, with and without buffer reuse, and checks that every
// output and kept value is bit-identical to a run without reuse, and that
// inputs, initializers and Constant attributes are never modified.
func TestRecyclingMatchesFresh(t *testing.T) {
	m, in, keep := aliasModel(t)
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	xCopy := append([]float32{}, in["x"].Data.([]float32)...)
	for _, c := range []bool{true, false} {
		in["cond"] = graph.MustTensor(graph.Bool, nil, []bool{c})
		ref, err := p.Run(in, &RunOptions{Keep: keep, NoReuse: true})
		if err != nil {
			t.Fatal(err)
		}
		ref = cloneResults(ref)
		for run := 0; run < 4; run++ {
			got, err := p.Run(in, &RunOptions{Keep: keep, NoReuse: run == 2})
			if err != nil {
				t.Fatal(err)
			}
			if err := sameBits(ref, got); err != nil {
				t.Fatalf("cond %v, run %d: %v", c, run, err)
			}
		}
	}
	if err := sameBits(map[string]*graph.Tensor{"x": f32out(in["x"].Shape, xCopy)}, map[string]*graph.Tensor{"x": in["x"]}); err != nil {
		t.Errorf("the input was modified: %v", err)
	}
	// A fresh program (new free lists, Constant cache already filled)
	// agrees with the reused one.
	p2, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Run(in, &RunOptions{Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p2.Run(in, &RunOptions{Keep: keep, NoReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sameBits(a, b); err != nil {
		t.Error(err)
	}
}

// TestRecyclingConcurrentRuns runs one program from several goroutines:
// each run has its own buffers.
func TestRecyclingConcurrentRuns(t *testing.T) {
	m, in, keep := aliasModel(t)
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Run(in, &RunOptions{Keep: keep, NoReuse: true})
	if err != nil {
		t.Fatal(err)
	}
	ref = cloneResults(ref)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := p.Run(in, &RunOptions{Keep: keep})
				if err == nil {
					err = sameBits(ref, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRecyclingReusesBuffers checks that a dead value's buffer serves a
// later value of the same size: a = Exp(x); b = a*a (a read twice, so not
// in place; a dies); c = b*b gets a's buffer. Without reuse it does not.
func TestRecyclingReusesBuffers(t *testing.T) {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1000)
	a := b.Op("Exp", []*graph.Value{x}, nil)
	sq := b.Op("Mul", []*graph.Value{a, a}, nil)
	c := b.Op("Mul", []*graph.Value{sq, sq}, nil)
	b.Output(c)
	p, err := Compile(b.Model())
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*graph.Tensor{"x": f32out([]int64{1000}, seq(1000, 0.001, -0.5))}
	for _, noReuse := range []bool{false, true} {
		addr := map[*graph.Value]*float32{}
		_, err := p.Run(in, &RunOptions{NoReuse: noReuse, Observe: func(v *graph.Value, t *graph.Tensor) {
			addr[v] = &t.Data.([]float32)[0]
		}})
		if err != nil {
			t.Fatal(err)
		}
		if reused := addr[c] == addr[a]; reused == noReuse {
			t.Errorf("NoReuse %v: c's buffer is a's: %v", noReuse, reused)
		}
	}
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 1}, {16, 16}, {17, 18}, {1000, 1024}, {1024, 1024}, {1025, 1152}, {409600, 425984}} {
		got := sizeClass(c.n)
		if got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.n, got, c.want)
		}
		if got < c.n || got-c.n > c.n/8 {
			t.Errorf("sizeClass(%d) = %d is more than 1/8 above", c.n, got)
		}
	}
}
