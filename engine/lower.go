package engine

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"slices"

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
	// Frozen are the trainable values kept constant, in initializer
	// order: the loss's gradient with respect to them cannot be computed.
	Frozen []Frozen

	// sides are the dynamic values that are not float (see side).
	sides map[*graph.Value]side
	// failure is the first error of an ONNX node in the current run.
	failure error
	// fed holds the current values of the non-float inputs (sides), and
	// feedTypes the type and shape of every input Feed takes.
	fed, feedTypes map[*graph.Value]*graph.Tensor

	model *graph.Model
	step  int // incremented by Step; gradient caches are valid for one step
}

// Lower builds the Gorgonia graph of m's main graph for inputs of the
// shapes in sample (which it runs once to learn every value's shape), to
// train the initializers trainable selects against the value named loss.
//
// Only float values that vary from run to run are differentiated. Values
// computed from constants or from shapes alone (Shape, Size and what is
// computed from them: the shape arithmetic exporters write) are constants
// of the lowering; integer and boolean values computed from activations
// (ArgMax, comparisons, casts) are evaluated each run, never
// differentiated. A trainable value whose gradient cannot be computed
// (its way to the loss crosses an op without a gradient, control flow
// included, or only its shape reaches the loss) stays constant and is
// listed in Frozen.
func Lower(m *graph.Model, sample map[string]*graph.Tensor, trainable func(*graph.Value) bool, loss string) (*Lowered, error) {
	prog, err := Compile(m)
	if err != nil {
		return nil, err
	}
	g := m.Graph
	types := map[*graph.Value]*graph.Tensor{}
	shapes := map[*graph.Value]*graph.Tensor{} // outputs of shape-only nodes
	if _, err := prog.Run(sample, &RunOptions{Observe: func(v *graph.Value, t *graph.Tensor) {
		types[v] = &graph.Tensor{DType: t.DType, Shape: append([]int64{}, t.Shape...)}
		if v.Producer != nil && v.Graph == g && isShapeOnly(v.Producer) {
			d, _ := t.Int64s()
			shapes[v] = graph.MustTensor(graph.Int64, types[v].Shape, append([]int64{}, d...))
		}
	}}); err != nil {
		return nil, fmt.Errorf("running the model once: %w", err)
	}
	for _, v := range g.Initializers {
		types[v] = &graph.Tensor{DType: v.Const.DType, Shape: v.Const.Shape}
	}
	var lossValue *graph.Value
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != nil && o.Name == loss {
				lossValue = o
			}
		}
	}
	if lossValue == nil {
		return nil, fmt.Errorf("the model computes no value %q to train against", loss)
	}
	fed := map[*graph.Value]bool{}
	for _, v := range g.Inputs {
		t, ok := sample[v.Name]
		if !ok {
			if v.Const != nil {
				continue
			}
			return nil, fmt.Errorf("no sample value for input %q", v.Name)
		}
		types[v] = &graph.Tensor{DType: t.DType, Shape: t.Shape}
		fed[v] = true
	}
	params := map[*graph.Value]bool{}
	var paramList []*graph.Value
	for _, v := range g.Initializers {
		if !trainable(v) {
			continue
		}
		if v.Const.DType != graph.Float {
			return nil, fmt.Errorf("trainable initializer %q is %s, not FLOAT", v.Name, v.Const.DType)
		}
		params[v] = true
		paramList = append(paramList, v)
	}
	l := &Lowered{G: G.NewGraph(), Inputs: map[*graph.Value]*G.Node{}, Params: map[*graph.Value]*G.Node{}, Nodes: map[*graph.Value]*G.Node{}, Consts: map[*graph.Value]*graph.Tensor{}, model: m}
	l.Frozen = planLowering(g, params, fed).freeze(g, prog.ops, paramList, lossValue, types)
	for _, f := range l.Frozen {
		delete(params, f.Value)
	}
	plan := planLowering(g, params, fed)
	for _, v := range g.Initializers {
		if !params[v] {
			l.Consts[v] = v.Const
			continue
		}
		n, err := newValueNode(l.G, v.Name, v.Const.Shape, append([]float32{}, v.Const.Data.([]float32)...))
		if err != nil {
			return nil, err
		}
		l.Params[v] = n
		l.Nodes[v] = n
	}
	l.sides, l.fed, l.feedTypes = map[*graph.Value]side{}, map[*graph.Value]*graph.Tensor{}, map[*graph.Value]*graph.Tensor{}
	for _, v := range g.Inputs {
		t, ok := sample[v.Name]
		if !ok || params[v] {
			continue
		}
		l.feedTypes[v] = types[v]
		if t.DType != graph.Float {
			// Indices, token ids, masks: fed each run beside the graph.
			n := G.NewScalar(l.G, tensor.Float32, G.WithName(v.Name), G.WithValue(G.NewF32(0)))
			l.fed[v] = t
			l.sides[v] = side{get: func() *graph.Tensor { return l.fed[v] }}
			l.Inputs[v], l.Nodes[v] = n, n
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
		if err := l.lowerNode(n, prog, plan, types, shapes); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// lowerNode adds node n to the lowering: its outputs are constants when
// it reads no dynamic value or only reads shapes, Gorgonia nodes
// otherwise.
func (l *Lowered) lowerNode(n *graph.Node, prog *Program, plan *lowerPlan, types, shapes map[*graph.Value]*graph.Tensor) error {
	op := prog.ops[n]
	reads := append([]*graph.Value{}, n.Inputs...)
	for _, sg := range n.Subgraphs {
		reads = append(reads, sg.OuterValues()...)
	}
	ctx := &Context{Node: n, Opset: l.model.Opset(n.Domain), prog: prog, env: Env{}, opts: &RunOptions{}}
	dynamic, shaped := false, false
	for _, o := range n.Outputs {
		dynamic = dynamic || plan.dynamic[o]
		if plan.shaped[o] {
			l.Consts[o], shaped = shapes[o], true
		}
	}
	if shaped {
		return nil
	}
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
			return fmt.Errorf("node %s: %w", n.Label(), err)
		}
		for i, v := range n.Outputs {
			if v != nil {
				l.Consts[v] = outs[i]
			}
		}
		return nil
	}
	fw := &forward{node: n, op: op, ctx: ctx, l: l, reads: reads, consts: make([]*graph.Tensor, len(reads)), sides: map[int]side{}}
	var children G.Nodes
	for i, v := range reads {
		switch {
		case v == nil:
		case l.Nodes[v] != nil:
			fw.dynIdx = append(fw.dynIdx, i)
			t := types[v]
			if s, ok := l.sides[v]; ok {
				fw.sides[i] = s
				t = token
			}
			fw.inTypes = append(fw.inTypes, t)
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
			return fmt.Errorf("output %q of node %s was not computed", v.Name, n.Label())
		}
		sel := &outputOp{fw: fw, index: j, out: t}
		if t.DType != graph.Float {
			// Evaluated each run and read by its consumers beside the
			// Gorgonia graph, which only orders it: a float token.
			sel.out, sel.side = token, true
			l.sides[v] = side{get: func() *graph.Tensor { return fw.fwOuts[j] }}
		}
		gn, err := G.ApplyOpWithName(sel, v.Name, children...)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Label(), err)
		}
		l.Nodes[v] = gn
	}
	return nil
}

// token is the Gorgonia type of a value that is not float: a float
// scalar that only orders the computation (see side).
var token = &graph.Tensor{DType: graph.Float}

// side reads the current value of a dynamic value that is not float: an
// output of its node's last forward evaluation, or a fed input.
type side struct {
	get func() *graph.Tensor
}

// Feed sets the graph inputs of the next run from feed, by input name;
// each must have the type and shape the lowering was built for.
func (l *Lowered) Feed(feed map[string]*graph.Tensor) error {
	for v, n := range l.Inputs {
		x, ok := feed[v.Name]
		if !ok {
			return fmt.Errorf("no value for input %q", v.Name)
		}
		if want := l.feedTypes[v]; x.DType != want.DType || !slices.Equal(x.Shape, want.Shape) {
			return fmt.Errorf("input %q is %s %v, but fine-tuning was prepared for %s %v", v.Name, x.DType, x.Shape, want.DType, want.Shape)
		}
		if _, ok := l.fed[v]; ok {
			l.fed[v] = x
			continue
		}
		if err := G.Let(n, denseOf(x)); err != nil {
			return fmt.Errorf("input %q: %v", v.Name, err)
		}
	}
	return nil
}

// denseOf copies a float tensor into a Gorgonia value.
func denseOf(t *graph.Tensor) G.Value {
	d := t.Data.([]float32)
	if len(t.Shape) == 0 {
		return G.NewF32(d[0])
	}
	return tensor.New(tensor.WithShape(intShape(t.Shape)...), tensor.WithBacking(append([]float32{}, d...)))
}

// Run runs one forward and backward pass of the lowering on vm (a machine
// over l.G), for a step started with Step. A failure names the ONNX node
// that failed, never the machine's instruction.
func (l *Lowered) Run(vm G.VM) error {
	l.failure = nil
	err := vm.RunAll()
	if err == nil {
		return nil
	}
	if l.failure != nil {
		return l.failure
	}
	var at interface{ Node() *G.Node }
	if errors.As(err, &at) && at.Node() != nil {
		return fmt.Errorf("computing %q in the training graph: %v", at.Node().Name(), rootCause(err))
	}
	return fmt.Errorf("running the training graph: %v", rootCause(err))
}

// rootCause is the innermost error of a chain (Gorgonia's wrapping adds
// its instruction dump, which means nothing to a user).
func rootCause(err error) error {
	for {
		var inner error
		switch e := err.(type) {
		case interface{ Err() error }:
			inner = e.Err()
		case interface{ Cause() error }:
			inner = e.Cause()
		default:
			inner = errors.Unwrap(err)
		}
		if inner == nil {
			return err
		}
		err = inner
	}
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
	node *graph.Node
	op   *Op
	ctx  *Context
	l    *Lowered
	// reads are the node's inputs followed by the values its subgraphs
	// read from the main graph.
	reads   []*graph.Value
	consts  []*graph.Tensor // constant reads by index (nil where dynamic)
	dynIdx  []int           // indices of the dynamic reads, in child order
	inTypes []*graph.Tensor // dtype/shape of the dynamic reads (token for sides)
	sides   map[int]side    // dynamic reads that are not float, by index

	// forward cache: all outputs of the last evaluation in this step
	fwStep int
	fwOuts []*graph.Tensor
	// gradient cache for the current step, per output index
	gradStep map[int]int
	grads    map[int][]*graph.Tensor
}

// inputs returns the node's inputs for the values of its dynamic reads;
// the values its subgraphs read go to the context's environment.
func (f *forward) inputs(vals []G.Value) ([]*graph.Tensor, error) {
	in := append([]*graph.Tensor{}, f.consts...)
	for k, i := range f.dynIdx {
		if s, ok := f.sides[i]; ok {
			in[i] = s.get()
			continue
		}
		t, err := fromValue(vals[k])
		if err != nil {
			return nil, err
		}
		in[i] = t
	}
	n := len(f.node.Inputs)
	for i, v := range f.reads[n:] {
		f.ctx.env[v] = in[n+i]
	}
	return in[:n], nil
}

// fail records the first failure of the run and returns it.
func (f *forward) fail(err error) error {
	if f.l.failure == nil {
		f.l.failure = err
	}
	return err
}

func (f *forward) hash(h hash.Hash, kind string, index int) {
	fmt.Fprintf(h, "onnxq:%s:%p:%d", kind, f, index)
}

// outputOp computes output index of the ONNX node.
type outputOp struct {
	fw    *forward
	index int
	out   *graph.Tensor // dtype and shape of the output (token for a side)
	side  bool          // the output is not float: read beside the graph
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
		return nil, f.fail(fmt.Errorf("node %s: %w", f.node.Label(), err))
	}
	if f.fwStep != f.l.step || f.fwOuts == nil || len(f.node.Outputs) == 1 {
		outs, err := f.op.Forward(f.ctx, in)
		if err != nil {
			return nil, f.fail(fmt.Errorf("node %s: %w", f.node.Label(), err))
		}
		f.fwOuts, f.fwStep = outs, f.l.step
	}
	if o.side {
		return G.NewF32(0), nil
	}
	t := f.fwOuts[o.index]
	if !slices.Equal(t.Shape, o.out.Shape) {
		return nil, f.fail(fmt.Errorf("node %s: output %q has shape %v in this sample but %v in the one fine-tuning was prepared with: its shape depends on the data, which training cannot follow (give samples on which it keeps one shape, or --no-finetune)",
			f.node.Label(), f.node.Outputs[o.index].Name, t.Shape, o.out.Shape))
	}
	v, err := toValue(t, in)
	if err != nil {
		return nil, f.fail(fmt.Errorf("node %s: %w", f.node.Label(), err))
	}
	return v, nil
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

// DiffWRT: every float dynamic input of a float output is differentiable
// when the op has a gradient; a subgraph's reads never are.
func (o *outputOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for k := range d {
		d[k] = o.differentiable(k)
	}
	return d
}

func (o *outputOp) differentiable(k int) bool {
	f := o.fw
	i := f.dynIdx[k]
	_, isSide := f.sides[i]
	return f.op.Backward != nil && !o.side && !isSide && i < len(f.node.Inputs) && f.inTypes[k].DType == graph.Float
}

// SymDiff returns, per dynamic input, a node computing its gradient.
func (o *outputOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.fw.op.Backward == nil {
		return nil, fmt.Errorf("node %s (%s) has no gradient", o.fw.node.Label(), o.fw.node.OpType)
	}
	out := make(G.Nodes, len(inputs))
	children := append(append(G.Nodes{}, inputs...), output, grad)
	for k := range inputs {
		if !o.differentiable(k) {
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
			return nil, f.fail(fmt.Errorf("gradient of node %s: %w", f.node.Label(), err))
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
