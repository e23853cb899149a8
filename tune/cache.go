package tune

import (
	"fmt"
	"reflect"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// A base is a model run once on the measuring samples with the value of
// every tensor kept. A variant that differs from a base in a few layers
// only recomputes what those layers change: the nodes that are not the
// same as in the base (same name, operator, attributes' node and inputs)
// and everything downstream of them, fed with the base's tensors where
// the two models agree. The result is the same as running the whole
// variant: the same kernels see the same inputs.
type base struct {
	nodes  map[string]*graph.Node // by nodeKey
	inits  map[string]*graph.Tensor
	values []map[string]*graph.Tensor // per sample, by value name
	bytes  int64
}

// maxCacheBytes bounds the memory the bases of one session hold.
const maxCacheBytes = 1 << 30

// newBase runs m on every sample of src and keeps every node output. It
// returns nil (no base) when the tensors would not fit in budget bytes.
func newBase(m *graph.Model, src dataset.Source, budget int64) (*base, []map[string]*graph.Tensor, error) {
	prog, err := engine.Compile(m)
	if err != nil {
		return nil, nil, err
	}
	b := &base{nodes: map[string]*graph.Node{}, inits: map[string]*graph.Tensor{}}
	for _, n := range m.Graph.Nodes {
		b.nodes[nodeKey(n)] = n
	}
	for _, v := range m.Graph.Initializers {
		b.inits[v.Name] = v.Const
	}
	var outs []map[string]*graph.Tensor
	keep := true
	for i := 0; i < src.Len(); i++ {
		sample, err := src.Sample(i)
		if err != nil {
			return nil, nil, fmt.Errorf("sample %d: %w", i, err)
		}
		vals := map[string]*graph.Tensor{}
		out, err := prog.Run(sample, &engine.RunOptions{Observe: func(v *graph.Value, t *graph.Tensor) {
			if !keep || v.Graph != m.Graph || v.Producer == nil {
				return
			}
			size := int64(t.Len()) * int64(max(t.DType.Bits(), 8)) / 8
			if b.bytes+size > budget {
				keep = false
				return
			}
			b.bytes += size
			vals[v.Name] = copyTensor(t)
		}})
		if err != nil {
			return nil, nil, fmt.Errorf("sample %d: %w", i, err)
		}
		b.values = append(b.values, vals)
		outs = append(outs, out)
	}
	if !keep {
		return nil, outs, nil
	}
	return b, outs, nil
}

// copyTensor returns a tensor with its own copy of t's data.
func copyTensor(t *graph.Tensor) *graph.Tensor {
	d := reflect.ValueOf(t.Data)
	c := reflect.MakeSlice(d.Type(), d.Len(), d.Len())
	reflect.Copy(c, d)
	return &graph.Tensor{DType: t.DType, Shape: append([]int64{}, t.Shape...), Data: c.Interface()}
}

// cut works out which nodes of m (a variant) compute what b already holds
// and returns the number of nodes that must run.
func (b *base) cut(m *graph.Model) (clean map[*graph.Node]bool, dirty int) {
	g := m.Graph
	same := map[*graph.Value]bool{}
	for _, v := range g.Inputs {
		same[v] = true
	}
	for _, v := range g.Initializers {
		if t, ok := b.inits[v.Name]; ok && (t == v.Const || sameTensor(t, v.Const)) {
			same[v] = true
		}
	}
	clean = map[*graph.Node]bool{}
	for _, n := range g.Nodes {
		bn := b.nodes[nodeKey(n)]
		ok := bn != nil && bn.Name == n.Name && bn.OpType == n.OpType && bn.Domain == n.Domain && len(n.Subgraphs) == 0 &&
			len(bn.Inputs) == len(n.Inputs) && len(bn.Outputs) == len(n.Outputs) && sameAttrs(bn, n)
		for i, v := range n.Inputs {
			if !ok {
				break
			}
			if v == nil || bn.Inputs[i] == nil {
				ok = v == nil && bn.Inputs[i] == nil
				continue
			}
			ok = same[v] && bn.Inputs[i].Name == v.Name
		}
		for i, v := range n.Outputs {
			if ok && v != nil && (bn.Outputs[i] == nil || bn.Outputs[i].Name != v.Name) {
				ok = false
			}
		}
		if !ok {
			dirty++
			continue
		}
		clean[n] = true
		for _, v := range n.Outputs {
			if v != nil {
				same[v] = true
			}
		}
	}
	return clean, dirty
}

// nodeKey identifies a node by its first output, which is unique (node
// names may be empty).
func nodeKey(n *graph.Node) string {
	for _, v := range n.Outputs {
		if v != nil {
			return v.Name
		}
	}
	return "node:" + n.Name
}

// sameAttrs compares two nodes' attributes by their wire form.
func sameAttrs(a, b *graph.Node) bool {
	pa, pb := a.ToProto(), b.ToProto()
	if len(pa.Attribute) != len(pb.Attribute) {
		return false
	}
	for i := range pa.Attribute {
		if pa.Attribute[i].String() != pb.Attribute[i].String() {
			return false
		}
	}
	return true
}

func sameTensor(a, b *graph.Tensor) bool {
	return a.DType == b.DType && reflect.DeepEqual(a.Shape, b.Shape) && reflect.DeepEqual(a.Data, b.Data)
}

// cutRunner runs the part of a variant that differs from a base.
type cutRunner struct {
	prog     *engine.Program
	b        *base
	boundary []string // values fed from the base
	outputs  []string // graph outputs the base computes (not recomputed)
}

// newCutRunner removes from m (which it takes over) the nodes the base
// already computes and compiles the rest. sampleIndex maps a sample to its
// position in the base's samples.
func (b *base) newCutRunner(m *graph.Model, clean map[*graph.Node]bool) (*cutRunner, error) {
	g := m.Graph
	r := &cutRunner{b: b}
	need := map[*graph.Value]bool{}
	for _, n := range g.Nodes {
		if clean[n] {
			continue
		}
		for _, v := range n.Inputs {
			need[v] = true
		}
		for _, sg := range n.Subgraphs {
			for _, v := range sg.OuterValues() {
				need[v] = true
			}
		}
	}
	for _, v := range g.Outputs {
		need[v] = true
	}
	var kept []*graph.Node
	for _, n := range g.Nodes {
		if !clean[n] {
			kept = append(kept, n)
			continue
		}
		for _, v := range n.Outputs {
			if v == nil || !need[v] {
				continue
			}
			// Computed by the base: becomes an input of the cut model,
			// of any shape (samples may differ in size).
			v.Producer = nil
			dt := v.ElemType()
			graph.SetType(v, dt)
			v.Type.GetTensorType().Shape = nil
			g.Inputs = append(g.Inputs, v)
			r.boundary = append(r.boundary, v.Name)
		}
	}
	g.Nodes = kept
	prog, err := engine.Compile(m)
	if err != nil {
		return nil, err
	}
	r.prog = prog
	return r, nil
}

// run runs sample i of the base's samples.
func (r *cutRunner) run(i int, sample map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	feeds := make(map[string]*graph.Tensor, len(sample)+len(r.boundary))
	for k, t := range sample {
		feeds[k] = t
	}
	for _, name := range r.boundary {
		t, ok := r.b.values[i][name]
		if !ok {
			return nil, fmt.Errorf("the cached run has no tensor %q", name)
		}
		feeds[name] = t
	}
	return r.prog.Run(feeds, nil)
}
