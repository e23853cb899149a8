package engine

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/onnxq/onnxq/graph"
)

// Lowered is a model lowered to a Gorgonia expression graph for training.
//
// Values that depend on a graph input or on a trainable initializer are
// Gorgonia nodes; everything else (shape arithmetic, frozen constants) is
// computed once at lowering time and baked into the ops that read it. Each
// ONNX node output becomes one Gorgonia node whose op runs the registry
// kernel; its symbolic derivative runs the registry gradient, so training
// and Program.Run compute the same forward values.
//
// Gorgonia's tape machine adds each run's gradients into the parameters'
// gradient values instead of replacing them: a caller that runs the
// machine several times must reset the gradients between runs (qat does,
// in step.go), or every step uses a running sum.
type Lowered struct {
	G *G.ExprGraph
	// Inputs are the graph inputs, Params the trainable initializers, and
	// Nodes every value on the trainable path (including both).
	Inputs map[*graph.Value]*G.Node
	Params map[*graph.Value]*G.Node
	Nodes  map[*graph.Value]*G.Node
	// Consts holds the values folded at lowering time.
	Consts map[*graph.Value]*graph.Tensor

	model *graph.Model
	step  int // incremented by Step; gradient caches are valid for one step
}

// Lower builds the Gorgonia graph of m's main graph for inputs of the
// shapes in sample (which it runs once to learn every value's shape).
// trainable selects the initializers that become parameters. The model
// must not use control flow on the trainable path.
func Lower(m *graph.Model, sample map[string]*graph.Tensor, trainable func(*graph.Value) bool) (*Lowered, error) {
	prog, err := Compile(m)
	if err != nil {
		return nil, err
	}
	types := map[*graph.Value]*graph.Tensor{}
	if _, err := prog.Run(sample, &RunOptions{Observe: func(v *graph.Value, t *graph.Tensor) {
		types[v] = &graph.Tensor{DType: t.DType, Shape: append([]int64{}, t.Shape...)}
	}}); err != nil {
		return nil, fmt.Errorf("lowering: running the model once: %w", err)
	}
	g := m.Graph
	for _, v := range g.Initializers {
		types[v] = &graph.Tensor{DType: v.Const.DType, Shape: v.Const.Shape}
	}
	for name, t := range sample {
		for _, v := range g.Inputs {
			if v.Name == name {
				types[v] = &graph.Tensor{DType: t.DType, Shape: t.Shape}
			}
		}
	}
	l := &Lowered{G: G.NewGraph(), Inputs: map[*graph.Value]*G.Node{}, Params: map[*graph.Value]*G.Node{}, Nodes: map[*graph.Value]*G.Node{}, Consts: map[*graph.Value]*graph.Tensor{}, model: m}
	for _, v := range g.Initializers {
		if trainable(v) {
			if v.Const.DType != graph.Float {
				return nil, fmt.Errorf("lowering: trainable initializer %q is %s, not FLOAT", v.Name, v.Const.DType)
			}
			data := append([]float32{}, v.Const.Data.([]float32)...)
			n, err := newValueNode(l.G, v.Name, v.Const.Shape, data)
			if err != nil {
				return nil, err
			}
			l.Params[v] = n
			l.Nodes[v] = n
		} else {
			l.Consts[v] = v.Const
		}
	}
	for _, v := range g.Inputs {
		if _, isParam := l.Params[v]; isParam || v.Const != nil && sample[v.Name] == nil {
			continue
		}
		t, ok := sample[v.Name]
		if !ok {
			return nil, fmt.Errorf("lowering: no sample value for input %q", v.Name)
		}
		if t.DType != graph.Float {
			l.Consts[v] = t // integer inputs (indices) are fixed at lowering
			continue
		}
		n, err := newValueNode(l.G, v.Name, t.Shape, append([]float32{}, t.Data.([]float32)...))
		if err != nil {
			return nil, err
		}
		l.Inputs[v] = n
		l.Nodes[v] = n
	}
	for _, n := range g.Nodes {
		op := prog.ops[n]
		dynamic := false
		for _, v := range n.Inputs {
			if v != nil && l.Nodes[v] != nil {
				dynamic = true
			}
		}
		if len(n.Subgraphs) > 0 {
			for _, sg := range n.Subgraphs {
				for _, v := range sg.OuterValues() {
					if l.Nodes[v] != nil {
						return nil, fmt.Errorf("lowering: node %s has a subgraph on the trainable path; control flow cannot be trained", n.Label())
					}
				}
			}
		}
		ctx := &Context{Node: n, Opset: m.Opset(n.Domain), prog: prog, env: Env{}, opts: &RunOptions{}}
		if !dynamic {
			in := make([]*graph.Tensor, len(n.Inputs))
			for i, v := range n.Inputs {
				if v != nil {
					in[i] = l.Consts[v]
				}
			}
			for v, t := range l.Consts {
				ctx.env[v] = t
			}
			outs, err := op.Forward(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("lowering: node %s: %w", n.Label(), err)
			}
			for i, v := range n.Outputs {
				if v != nil {
					l.Consts[v] = outs[i]
				}
			}
			continue
		}
		fw := &forward{node: n, op: op, ctx: ctx, l: l, consts: make([]*graph.Tensor, len(n.Inputs)), dynIdx: []int{}}
		var children G.Nodes
		for i, v := range n.Inputs {
			switch {
			case v == nil:
			case l.Nodes[v] != nil:
				fw.dynIdx = append(fw.dynIdx, i)
				fw.inTypes = append(fw.inTypes, types[v])
				children = append(children, l.Nodes[v])
			default:
				fw.consts[i] = l.Consts[v]
			}
		}
		for j, v := range n.Outputs {
			if v == nil {
				continue
			}
			t, ok := types[v]
			if !ok {
				return nil, fmt.Errorf("lowering: output %q of node %s was not computed", v.Name, n.Label())
			}
			sel := &outputOp{fw: fw, index: j, out: t}
			gn, err := G.ApplyOpWithName(sel, v.Name, children...)
			if err != nil {
				return nil, fmt.Errorf("lowering: node %s: %w", n.Label(), err)
			}
			l.Nodes[v] = gn
		}
	}
	return l, nil
}

// Step starts a new training step: gradient caches from the previous one
// are dropped. Call it before each run of the machine.
func (l *Lowered) Step() { l.step++ }

func newValueNode(g *G.ExprGraph, name string, shape []int64, data []float32) (*G.Node, error) {
	if len(shape) == 0 {
		return G.NewScalar(g, tensor.Float32, G.WithName(name), G.WithValue(G.NewF32(data[0]))), nil
	}
	d := tensor.New(tensor.WithShape(intShape(shape)...), tensor.WithBacking(data))
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithName(name), G.WithShape(intShape(shape)...), G.WithValue(d)), nil
}

func intShape(s []int64) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

// gType returns the Gorgonia type of a tensor: its dtype for a scalar, a
// TensorType otherwise.
func gType(t *graph.Tensor) hm.Type {
	dt := gDtype(t.DType)
	if len(t.Shape) == 0 {
		return dt
	}
	return G.TensorType{Dims: len(t.Shape), Of: dt}
}

func gDtype(d graph.DType) tensor.Dtype {
	switch d {
	case graph.Float:
		return tensor.Float32
	case graph.Double:
		return tensor.Float64
	case graph.Int64:
		return tensor.Int64
	case graph.Int32:
		return tensor.Int32
	case graph.Bool:
		return tensor.Bool
	case graph.Uint8:
		return tensor.Uint8
	case graph.Int8:
		return tensor.Int8
	}
	return tensor.Float32
}

// fromValue wraps a Gorgonia value as a graph.Tensor without copying.
func fromValue(v G.Value) (*graph.Tensor, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		shape := make([]int64, len(x.Shape()))
		for i, d := range x.Shape() {
			shape[i] = int64(d)
		}
		if x.IsScalar() {
			shape = nil
		}
		switch d := x.Data().(type) {
		case []float32:
			return graph.NewTensor(graph.Float, shape, d)
		case float32:
			return graph.NewTensor(graph.Float, nil, []float32{d})
		}
		return nil, fmt.Errorf("lowering: unsupported value type %T", x.Data())
	case *G.F32:
		return graph.NewTensor(graph.Float, nil, []float32{float32(*x)})
	}
	return nil, fmt.Errorf("lowering: unsupported value %T", v)
}

// toValue wraps a float graph.Tensor as a Gorgonia value, copying when the
// data aliases an input (kernels may return views).
func toValue(t *graph.Tensor, inputs []*graph.Tensor) (G.Value, error) {
	if t.DType != graph.Float {
		return nil, fmt.Errorf("lowering: value on the trainable path is %s, not FLOAT", t.DType)
	}
	data := t.Data.([]float32)
	if len(t.Shape) == 0 {
		return G.NewF32(data[0]), nil
	}
	for _, in := range inputs {
		if in != nil && aliases(in, data) {
			data = append([]float32{}, data...)
			break
		}
	}
	return tensor.New(tensor.WithShape(intShape(t.Shape)...), tensor.WithBacking(data)), nil
}

func aliases(t *graph.Tensor, data []float32) bool {
	d, ok := t.Data.([]float32)
	return ok && len(d) > 0 && len(data) > 0 && &d[0] == &data[0]
}

// forward is the shared state of the Gorgonia nodes of one ONNX node.
type forward struct {
	node    *graph.Node
	op      *Op
	ctx     *Context
	l       *Lowered
	consts  []*graph.Tensor // constant inputs by index (nil where dynamic)
	dynIdx  []int           // indices of the dynamic inputs, in child order
	inTypes []*graph.Tensor // dtype/shape of the dynamic inputs

	// forward cache: all outputs of the last evaluation in this step
	fwStep int
	fwOuts []*graph.Tensor
	// gradient cache for the current step, per output index
	gradStep map[int]int
	grads    map[int][]*graph.Tensor
}

func (f *forward) inputs(vals []G.Value) ([]*graph.Tensor, error) {
	in := append([]*graph.Tensor{}, f.consts...)
	for k, i := range f.dynIdx {
		t, err := fromValue(vals[k])
		if err != nil {
			return nil, err
		}
		in[i] = t
	}
	return in, nil
}

func (f *forward) hash(h hash.Hash, kind string, index int) {
	fmt.Fprintf(h, "onnxq:%s:%p:%d", kind, f, index)
}

// outputOp computes output index of the ONNX node.
type outputOp struct {
	fw    *forward
	index int
	out   *graph.Tensor // dtype and shape of the output
}

func (o *outputOp) Arity() int { return len(o.fw.dynIdx) }
func (o *outputOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.fw.inTypes)+1)
	for _, t := range o.fw.inTypes {
		ts = append(ts, gType(t))
	}
	return hm.NewFnType(append(ts, gType(o.out))...)
}
func (o *outputOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if len(o.out.Shape) == 0 {
		return tensor.ScalarShape(), nil
	}
	return tensor.Shape(intShape(o.out.Shape)), nil
}
func (o *outputOp) Do(vals ...G.Value) (G.Value, error) {
	f := o.fw
	in, err := f.inputs(vals)
	if err != nil {
		return nil, err
	}
	if f.fwStep != f.l.step || f.fwOuts == nil || len(f.node.Outputs) == 1 {
		outs, err := f.op.Forward(f.ctx, in)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", f.node.Label(), err)
		}
		f.fwOuts, f.fwStep = outs, f.l.step
	}
	return toValue(f.fwOuts[o.index], in)
}
func (o *outputOp) ReturnsPtr() bool      { return false }
func (o *outputOp) CallsExtern() bool     { return false }
func (o *outputOp) OverwritesInput() int  { return -1 }
func (o *outputOp) WriteHash(h hash.Hash) { o.fw.hash(h, "out", o.index) }
func (o *outputOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *outputOp) String() string {
	return fmt.Sprintf("%s[%d]", o.fw.node.OpType, o.index)
}

// DiffWRT: every dynamic input is differentiable when the op has a gradient.
func (o *outputOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if o.fw.op.Backward != nil {
		for k := range d {
			d[k] = o.fw.inTypes[k].DType == graph.Float
		}
	}
	return d
}

// SymDiff returns, per dynamic input, a node computing its gradient.
func (o *outputOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.fw.op.Backward == nil {
		return nil, fmt.Errorf("node %s (%s) has no gradient", o.fw.node.Label(), o.fw.node.OpType)
	}
	out := make(G.Nodes, len(inputs))
	children := append(append(G.Nodes{}, inputs...), output, grad)
	for k := range inputs {
		if o.fw.inTypes[k].DType != graph.Float {
			continue
		}
		gop := &gradOp{fw: o.fw, outIndex: o.index, inPos: k, out: o.out}
		n, err := G.ApplyOp(gop, children...)
		if err != nil {
			return nil, fmt.Errorf("gradient of node %s: %w", o.fw.node.Label(), err)
		}
		out[k] = n
	}
	return out, nil
}

// gradOp computes the gradient of the loss with respect to one dynamic
// input of an ONNX node, from the gradient of one of its outputs. The
// registry gradient computes all input gradients at once; the result is
// cached for the step so sibling gradOps do not repeat it.
type gradOp struct {
	fw       *forward
	outIndex int
	inPos    int // position among the dynamic inputs
	out      *graph.Tensor
}

func (o *gradOp) Arity() int { return len(o.fw.dynIdx) + 2 }
func (o *gradOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(o.fw.inTypes)+3)
	for _, t := range o.fw.inTypes {
		ts = append(ts, gType(t))
	}
	ts = append(ts, gType(o.out), gType(o.out), gType(o.fw.inTypes[o.inPos]))
	return hm.NewFnType(ts...)
}
func (o *gradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	t := o.fw.inTypes[o.inPos]
	if len(t.Shape) == 0 {
		return tensor.ScalarShape(), nil
	}
	return tensor.Shape(intShape(t.Shape)), nil
}
func (o *gradOp) Do(vals ...G.Value) (G.Value, error) {
	f := o.fw
	if f.gradStep == nil {
		f.gradStep, f.grads = map[int]int{}, map[int][]*graph.Tensor{}
	}
	nd := len(f.dynIdx)
	if s, ok := f.gradStep[o.outIndex]; !ok || s != f.l.step {
		in, err := f.inputs(vals[:nd])
		if err != nil {
			return nil, err
		}
		outT, err := fromValue(vals[nd])
		if err != nil {
			return nil, err
		}
		dT, err := fromValue(vals[nd+1])
		if err != nil {
			return nil, err
		}
		outs := make([]*graph.Tensor, len(f.node.Outputs))
		douts := make([]*graph.Tensor, len(f.node.Outputs))
		outs[o.outIndex], douts[o.outIndex] = outT, dT
		if f.fwOuts != nil && f.fwStep == f.l.step {
			for j, t := range f.fwOuts {
				if outs[j] == nil {
					outs[j] = t
				}
			}
		}
		g, err := f.op.Backward(f.ctx, in, outs, douts)
		if err != nil {
			return nil, fmt.Errorf("gradient of node %s: %w", f.node.Label(), err)
		}
		f.grads[o.outIndex], f.gradStep[o.outIndex] = g, f.l.step
	}
	gi := f.grads[o.outIndex][f.dynIdx[o.inPos]]
	if gi == nil {
		gi = graph.Zeros(graph.Float, f.inTypes[o.inPos].Shape)
	}
	return toValue(gi, nil)
}
func (o *gradOp) ReturnsPtr() bool     { return false }
func (o *gradOp) CallsExtern() bool    { return false }
func (o *gradOp) OverwritesInput() int { return -1 }
func (o *gradOp) WriteHash(h hash.Hash) {
	o.fw.hash(h, fmt.Sprintf("grad%d", o.outIndex), o.inPos)
}
func (o *gradOp) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}
func (o *gradOp) String() string {
	return fmt.Sprintf("d%s[%d]/din%d", o.fw.node.OpType, o.outIndex, o.inPos)
}
