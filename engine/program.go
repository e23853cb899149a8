package engine

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/onnxq/onnxq/graph"
)

// Context is what a kernel sees of the node it runs: the node itself (for
// attributes), the opset version the node binds to, and a way to run
// subgraphs.
type Context struct {
	Node  *graph.Node
	Opset int64
	prog  *Program
	env   Env
	opts  *RunOptions
	// bufs is the run's buffer bookkeeping (bufpool.go); nil for kernels
	// called outside a run.
	bufs *runBuffers
	// reusable marks the inputs whose float32 buffer the kernel may
	// overwrite (see Reusable).
	reusable []bool
}

// Reusable reports whether the kernel may write its output into input i's
// buffer: the input is a float32 value computed by an earlier node, this
// node is its last reader, nothing else (graph outputs, kept values,
// other live values that share the buffer, this node's other inputs)
// refers to that buffer, and the buffer is not pinned (graph inputs,
// initializers, Constant outputs and views of them). Element-wise kernels
// use it to run in place, which saves an allocation and keeps the data in
// cache.
func (c *Context) Reusable(i int) bool { return i < len(c.reusable) && c.reusable[i] }

// RunSubgraph executes a subgraph of the current node (an If branch, a
// Loop body) with the given values for its inputs; values of enclosing
// graphs are visible. It returns the subgraph's outputs. The subgraph
// shares the run's buffers: its inputs are pinned (never recycled nor
// overwritten during the run), its intermediate values are recycled as
// in the main graph, and its outputs are handed to the kernel untracked
// (they become tracked again as the node's outputs).
func (c *Context) RunSubgraph(g *graph.Graph, inputs []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(inputs) != len(g.Inputs) {
		return nil, fmt.Errorf("subgraph of %s takes %d inputs, got %d", c.Node.Label(), len(g.Inputs), len(inputs))
	}
	env := Env{}
	for v, t := range c.env {
		env[v] = t
	}
	for i, v := range g.Inputs {
		env[v] = inputs[i]
	}
	bufs := c.bufs
	if bufs == nil {
		// A kernel called outside a run: no recycling, nothing in place.
		bufs = newRunBuffers()
		bufs.reset(true)
	}
	if err := c.prog.runGraph(g, env, c.opts, bufs); err != nil {
		return nil, err
	}
	outs := make([]*graph.Tensor, len(g.Outputs))
	for i, v := range g.Outputs {
		t, ok := env[v]
		if !ok {
			return nil, fmt.Errorf("subgraph of %s did not compute output %q", c.Node.Label(), v.Name)
		}
		outs[i] = t
	}
	// The subgraph's environment ends here: its remaining values stop
	// counting as holders of their buffers, without recycling them (the
	// kernel holds the outputs).
	for _, n := range g.Nodes {
		for _, v := range n.Outputs {
			if t, ok := env[v]; ok && v != nil {
				bufs.release(t, false)
			}
		}
	}
	return outs, nil
}

// Env holds the tensor of every value computed so far.
type Env map[*graph.Value]*graph.Tensor

// Program is a model checked against the registry, ready to run.
type Program struct {
	Model *graph.Model
	ops   map[*graph.Node]*Op
	// lastUse maps each graph to, per value, the index of the last node of
	// that graph that reads it; values are freed after it.
	lastUse map[*graph.Graph]map[*graph.Value]int
	// buffers holds *runBuffers between runs: the free lists of recycled
	// float32 buffers (bufpool.go). Concurrent runs take one each.
	buffers sync.Pool
}

// RunOptions adjusts one run.
type RunOptions struct {
	// Observe, if set, is called with every graph input and every node
	// output (of the main graph and of subgraphs) as soon as it is known.
	// The tensor must not be modified or kept after Observe returns unless
	// copied: once the value is dead its buffer is recycled for later
	// values of the run (or of later runs), so a kept tensor's data would
	// change under the caller.
	Observe func(v *graph.Value, t *graph.Tensor)
	// Keep, if set, lists values (besides graph outputs) that Run returns
	// in addition to the outputs, under their value names.
	Keep []*graph.Value
	// NoReuse turns buffer reuse off for this run: no freed buffer is
	// recycled and no kernel runs in place, so every output is a new
	// allocation. For debugging and for tests that compare the two.
	NoReuse bool
}

// Compile checks every node of the model (and of its subgraphs) against the
// registry. It returns *Unsupported listing every operator or attribute
// value the engine lacks, before any work is done.
func Compile(m *graph.Model) (*Program, error) {
	p := &Program{Model: m, ops: map[*graph.Node]*Op{}, lastUse: map[*graph.Graph]map[*graph.Value]int{}}
	var problems []string
	seen := map[string]bool{}
	report := func(s string) {
		if !seen[s] {
			seen[s] = true
			problems = append(problems, s)
		}
	}
	m.Graph.Walk(func(n *graph.Node) bool {
		opset := m.Opset(n.Domain)
		op := Lookup(n.Domain, n.OpType, opset)
		if op == nil {
			name := n.OpType
			if n.Domain != "" && n.Domain != "ai.onnx" {
				name = n.Domain + ":" + n.OpType
			}
			if opset == 0 {
				report(fmt.Sprintf("%s (domain %q is not imported)", name, n.Domain))
			} else {
				report(fmt.Sprintf("%s (opset %d)", name, opset))
			}
			return true
		}
		if op.Check != nil {
			if err := op.Check(n); err != nil {
				report(fmt.Sprintf("%s (opset %d) node %s: %v", n.OpType, opset, n.Label(), err))
				return true
			}
		}
		p.ops[n] = op
		return true
	})
	if len(problems) > 0 {
		return nil, &Unsupported{Problems: problems}
	}
	for _, g := range m.Graph.Graphs() {
		last := map[*graph.Value]int{}
		for i, n := range g.Nodes {
			for _, v := range n.Inputs {
				if v != nil {
					last[v] = i
				}
			}
			for _, sg := range n.Subgraphs {
				for _, v := range sg.OuterValues() {
					last[v] = i
				}
			}
		}
		p.lastUse[g] = last
	}
	return p, nil
}

// Run executes the main graph on the given inputs (by input name) and
// returns its outputs by name. Inputs are checked against the model's
// declared types and static shapes first.
func (p *Program) Run(inputs map[string]*graph.Tensor, opts *RunOptions) (map[string]*graph.Tensor, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	bufs, _ := p.buffers.Get().(*runBuffers)
	if bufs == nil {
		bufs = newRunBuffers()
	}
	bufs.reset(opts.NoReuse)
	defer func() {
		bufs.reset(false) // its maps' keys would keep this run's inputs and outputs alive
		p.buffers.Put(bufs)
	}()
	g := p.Model.Graph
	env := Env{}
	for _, v := range g.Initializers {
		env[v] = v.Const
	}
	known := map[string]bool{}
	for _, v := range g.Inputs {
		known[v.Name] = true
		t, ok := inputs[v.Name]
		if !ok {
			if v.Const != nil {
				continue // an initializer listed as an input keeps its value
			}
			return nil, fmt.Errorf("input %q is missing", v.Name)
		}
		if err := CheckInput(v, t); err != nil {
			return nil, err
		}
		env[v] = t
		if opts.Observe != nil {
			opts.Observe(v, t)
		}
	}
	for name := range inputs {
		if !known[name] {
			return nil, fmt.Errorf("the model has no input %q", name)
		}
	}
	if err := p.runGraph(g, env, opts, bufs); err != nil {
		return nil, err
	}
	out := map[string]*graph.Tensor{}
	for _, v := range g.Outputs {
		t, ok := env[v]
		if !ok {
			return nil, fmt.Errorf("output %q was not computed", v.Name)
		}
		out[v.Name] = t
	}
	for _, v := range opts.Keep {
		if t, ok := env[v]; ok {
			out[v.Name] = t
		}
	}
	return out, nil
}

// reusableInputs decides Context.Reusable for node n (index i of g): the
// value dies here and bufs counts one holder of its buffer (the value
// itself), which is not pinned.
func reusableInputs(n *graph.Node, in []*graph.Tensor, i int, g *graph.Graph, last map[*graph.Value]int, keep map[*graph.Value]bool, bufs *runBuffers) []bool {
	var r []bool
	for k, v := range n.Inputs {
		if v == nil || v.Producer == nil || v.Graph != g || last[v] != i || keep[v] || !bufs.sole(in[k]) {
			continue
		}
		twice := false
		for j, w := range n.Inputs {
			twice = twice || (j != k && w == v) // the same value read twice by this node
		}
		if twice {
			continue
		}
		if r == nil {
			r = make([]bool, len(n.Inputs))
		}
		r[k] = true
	}
	return r
}

// bufferKey identifies the array behind a float32, uint8 or int8 tensor
// (the types whose buffers the runner recycles, bufpool.go): the address
// of the last element within the slice's capacity, which every view made
// by reslicing (a[i:j]) shares with the slice it came from. It also
// returns the capacity in bytes.
func bufferKey(t *graph.Tensor) (unsafe.Pointer, int64, bool) {
	switch d := t.Data.(type) {
	case []float32:
		if c := cap(d); c > 0 {
			return unsafe.Pointer(&d[:c][c-1]), size[float32](c), true
		}
	case []uint8:
		if c := cap(d); c > 0 {
			return unsafe.Pointer(&d[:c][c-1]), int64(c), true
		}
	case []int8:
		if c := cap(d); c > 0 {
			return unsafe.Pointer(&d[:c][c-1]), int64(c), true
		}
	}
	return nil, 0, false
}

// CheckInput verifies that t fits the declared type and static shape of
// the graph input v.
func CheckInput(v *graph.Value, t *graph.Tensor) error {
	if want := v.ElemType(); want != graph.Undefined && want != t.DType {
		return fmt.Errorf("input %q: model expects %s, got %s", v.Name, want, t.DType)
	}
	dims, ok := v.Shape()
	if !ok {
		return nil
	}
	if len(dims) != len(t.Shape) {
		return fmt.Errorf("input %q: model expects shape %s, got %v", v.Name, fmtDims(dims), t.Shape)
	}
	for i, d := range dims {
		if d >= 0 && d != t.Shape[i] {
			return fmt.Errorf("input %q: model expects shape %s, got %v", v.Name, fmtDims(dims), t.Shape)
		}
	}
	return nil
}

// CheckFinite returns an error naming the first NaN or infinite element of
// a floating-point tensor. Data readers call it on user data; the engine
// itself computes with NaN like any ONNX runtime.
func CheckFinite(name string, t *graph.Tensor) error {
	if !t.DType.IsFloat() {
		return nil
	}
	f, err := t.Float32s()
	if err != nil {
		return err
	}
	for i, x := range f {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s: element %d is %v", name, i, x)
		}
	}
	return nil
}

func fmtDims(d []int64) string {
	s := "["
	for i, x := range d {
		if i > 0 {
			s += " "
		}
		if x < 0 {
			s += "?"
		} else {
			s += fmt.Sprint(x)
		}
	}
	return s + "]"
}

// runGraph runs the nodes of g in order over env. After each node it
// drops the values whose last reader the node was, and the node's outputs
// that nothing reads, from env (graph outputs and opts.Keep values stay);
// bufs counts the values that hold each float32 buffer, and a buffer that
// no value holds any more goes to the free lists, from which later
// kernels take their outputs (Context.Float32s). The buffers of g's
// inputs and initializers are pinned: never recycled nor overwritten.
func (p *Program) runGraph(g *graph.Graph, env Env, opts *RunOptions, bufs *runBuffers) error {
	for _, v := range g.Initializers {
		if _, ok := env[v]; !ok {
			env[v] = v.Const
		}
		bufs.pin(v.Const)
		bufs.pin(env[v])
	}
	for _, v := range g.Inputs {
		bufs.pin(env[v])
	}
	keep := map[*graph.Value]bool{}
	for _, v := range g.Outputs {
		keep[v] = true
	}
	for _, v := range opts.Keep {
		keep[v] = true
	}
	last := p.lastUse[g]
	in := make([]*graph.Tensor, 0, 8)
	for i, n := range g.Nodes {
		op := p.ops[n]
		in = in[:0]
		for _, v := range n.Inputs {
			if v == nil {
				in = append(in, nil)
				continue
			}
			t, ok := env[v]
			if !ok {
				return fmt.Errorf("node %s: input %q has no value (graph not in topological order?)", n.Label(), v.Name)
			}
			in = append(in, t)
		}
		ctx := &Context{Node: n, Opset: p.Model.Opset(n.Domain), prog: p, env: env, opts: opts, bufs: bufs}
		ctx.reusable = reusableInputs(n, in, i, g, last, keep, bufs)
		outs, err := callForward(op, ctx, in)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Label(), err)
		}
		if len(outs) < len(n.Outputs) {
			return fmt.Errorf("node %s: kernel returned %d outputs, node has %d", n.Label(), len(outs), len(n.Outputs))
		}
		for j, v := range n.Outputs {
			if v == nil {
				continue
			}
			if outs[j] == nil {
				return fmt.Errorf("node %s: output %q was not computed", n.Label(), v.Name)
			}
			env[v] = outs[j]
			bufs.track(outs[j])
			if opts.Observe != nil {
				opts.Observe(v, outs[j])
			}
		}
		// Free values whose last reader was this node (once, if it read
		// one twice), then outputs that nothing reads.
		for _, v := range n.Inputs {
			if v != nil && last[v] == i && !keep[v] && v.Producer != nil && v.Graph == g {
				if t, ok := env[v]; ok {
					delete(env, v)
					bufs.release(t, true)
				}
			}
		}
		for _, v := range n.Outputs {
			if _, read := last[v]; v != nil && !read && !keep[v] {
				t := env[v]
				delete(env, v)
				bufs.release(t, true)
			}
		}
	}
	return nil
}
