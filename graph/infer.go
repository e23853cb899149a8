package graph

import (
	"fmt"
	"maps"
	"slices"
)

// InferShapes infers the element type and shape of every value computed by
// a node of m's graph and of its subgraphs (If branches, Loop bodies), one
// rule per op type of the default ONNX domain, each given the opset that m
// imports for the node's domain (so that, for example, Squeeze reads its
// axes from an attribute before opset 13 and from an input after).
//
// Shapes that depend on tensor values (a Reshape target, Slice starts,
// Resize scales or sizes, Expand, Tile, Pad, ConstantOfShape, TopK's K,
// Split sizes, Range) resolve statically when those values are known:
// InferShapes keeps a side table of the values of initializers, Constant
// nodes, Shape and Size of values whose shape is known, and small integer
// computations on them (Gather, Concat, Slice, Unsqueeze, Squeeze, Reshape,
// Cast, arithmetic, comparisons, Where, Range, ConstantOfShape...). A
// symbolic dimension (dim_param) survives every op that keeps it, also
// through such shape computations. An initializer that is also a graph
// input (allowed to be overridden from IR version 4) counts as the
// constant it holds: exporters list shape constants that way, and nobody
// overrides them.
//
// InferShapes only fills Value.Type where it is unknown or less precise
// than what it infers (an element type or a dimension that is missing, or a
// dimension that is only symbolic where inference finds a size); it never
// contradicts a declared type: when an inferred type disagrees with the
// declared one it returns an error naming the node and the value. It also
// returns an error naming the node when the node's inputs contradict the op
// (Conv channels that do not match the weight, a Reshape whose element
// count differs, shapes that do not broadcast, an axis out of range...).
// The main graph's inputs and initializers are never changed (a Loop
// body's untyped inputs get the loop's input types); values of ops it has
// no rule for (or of other domains) keep whatever type they had.
func InferShapes(m *Model) error {
	inf := &inferer{m: m, consts: map[*Value]*constVal{}}
	return inf.graph(m.Graph)
}

// StaticShape returns the shape of v when its rank and every dimension are
// known (after InferShapes, for instance).
func StaticShape(v *Value) ([]int64, bool) {
	t, ok := typeInfoOf(v)
	if !ok {
		return nil, false
	}
	return t.static()
}

// inferRule computes a node's output types (one per output; missing or
// zero entries are unknown). Errors come from inferCtx.errorf and so name
// the node.
type inferRule func(c *inferCtx) ([]typeInfo, error)

// inferRules maps the op types of the default domain to their rules. It is
// filled by the init functions of the infer_*.go files, one per op family.
var inferRules = map[string]inferRule{}

// inferOwnSubgraphs lists the ops whose rules infer their subgraphs
// themselves (a Loop types its body's inputs first); the subgraphs of
// other nodes are inferred before the node.
var inferOwnSubgraphs = map[string]bool{"Loop": true}

func addRules(rule inferRule, ops ...string) {
	for _, op := range ops {
		inferRules[op] = rule
	}
}

// InferSupported reports whether InferShapes has a rule for the op type of
// the default ONNX domain.
func InferSupported(domain, opType string) bool {
	if canonicalDomain(domain) != "" {
		return false
	}
	_, ok := inferRules[opType]
	return ok
}

type inferer struct {
	m      *Model
	consts map[*Value]*constVal
}

// inferCtx is what a rule sees: the node, the opset of its domain and the
// types of its inputs.
type inferCtx struct {
	inf   *inferer
	n     *Node
	opset int64
	in    []typeInfo
}

func (inf *inferer) graph(g *Graph) error {
	order, err := topoOrder(g)
	if err != nil {
		return err
	}
	for _, n := range order {
		if err := inf.node(n); err != nil {
			return err
		}
	}
	return nil
}

// topoOrder returns g's nodes in an order where producers come first,
// leaving g.Nodes as it is.
func topoOrder(g *Graph) ([]*Node, error) {
	saved := append([]*Node{}, g.Nodes...)
	err := g.TopoSort()
	order := g.Nodes
	g.Nodes = saved
	return order, err
}

func (inf *inferer) node(n *Node) error {
	rule := inferRules[n.OpType]
	if canonicalDomain(n.Domain) != "" {
		rule = nil
	}
	if !inferOwnSubgraphs[n.OpType] || rule == nil {
		for _, name := range slices.Sorted(maps.Keys(n.Subgraphs)) { // If branches: first
			if err := inf.graph(n.Subgraphs[name]); err != nil {
				return err
			}
		}
	}
	if rule == nil {
		return nil
	}
	c := &inferCtx{inf: inf, n: n, opset: inf.m.Opset(n.Domain), in: make([]typeInfo, len(n.Inputs))}
	for i, v := range n.Inputs {
		c.in[i], _ = typeInfoOf(v)
	}
	outs, err := rule(c)
	if err != nil {
		return err
	}
	if fold := foldRules[n.OpType]; fold != nil && len(n.Outputs) > 0 && n.Outputs[0] != nil {
		var out0 typeInfo
		if len(outs) > 0 {
			out0 = outs[0]
		}
		cv, err := fold(c, out0)
		if err != nil {
			return err
		}
		if cv != nil {
			t := ranked(cv.dt, staticDims(cv.shape...))
			if len(outs) == 0 {
				outs = []typeInfo{t}
			} else if outs[0], err = mergeTypes(outs[0], t); err != nil {
				return c.errorf("computed value %s disagrees with the inferred type %s", t, outs[0])
			}
			inf.consts[n.Outputs[0]] = cv
		}
	}
	for i, v := range n.Outputs {
		if v == nil || i >= len(outs) {
			continue
		}
		if err := inf.setType(n, v, outs[i]); err != nil {
			return err
		}
	}
	return nil
}

// setType records the inferred type t of v, merged with what v already
// declares.
func (inf *inferer) setType(n *Node, v *Value, t typeInfo) error {
	if v.Const != nil || (t.dt == Undefined && !t.ranked) {
		return nil
	}
	old, ok := typeInfoOf(v)
	if !ok {
		// Not declared as a tensor: a sequence, map or optional is not
		// ours, and a tensor type without an element type is not valid.
		if v.Type == nil && t.dt != Undefined {
			v.Type = tensorTypeSym(t)
		}
		return nil
	}
	merged, err := mergeTypes(old, t)
	if err != nil {
		return fmt.Errorf("node %s output %q: inferred type %s contradicts the declared type %s", n.Label(), v.Name, t, old)
	}
	if !merged.equal(old) {
		v.Type = tensorTypeSym(merged)
	}
	return nil
}

// mergeTypes combines two descriptions of one tensor type, preferring
// a's symbolic names; it fails when they contradict each other.
func mergeTypes(a, b typeInfo) (typeInfo, error) {
	out := a
	switch {
	case a.dt == Undefined:
		out.dt = b.dt
	case b.dt != Undefined && a.dt != b.dt:
		return out, fmt.Errorf("element types %s and %s differ", a.dt, b.dt)
	}
	switch {
	case !b.ranked:
	case !a.ranked:
		out.ranked, out.dims = true, copyDims(b.dims)
	case len(a.dims) != len(b.dims):
		return out, fmt.Errorf("ranks %d and %d differ", len(a.dims), len(b.dims))
	default:
		out.dims = make([]symDim, len(a.dims))
		for i := range a.dims {
			d, ok := unifyDim(a.dims[i], b.dims[i])
			if !ok {
				return out, fmt.Errorf("dimension %d: %s and %s differ", i, a.dims[i], b.dims[i])
			}
			out.dims[i] = d
		}
	}
	return out, nil
}

func (c *inferCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("node %s: %s", c.n.Label(), fmt.Sprintf(format, args...))
}

// arg returns the type of input i (unknown when absent).
func (c *inferCtx) arg(i int) typeInfo {
	if i < len(c.in) {
		return c.in[i]
	}
	return typeInfo{}
}

// has reports whether input i is given.
func (c *inferCtx) has(i int) bool { return c.n.Input(i) != nil }

// value returns the known value of input i, or nil.
func (c *inferCtx) value(i int) *constVal { return c.inf.constOf(c.n.Input(i)) }

// ints returns the elements of input i when it is an integer tensor whose
// every element is known.
func (c *inferCtx) ints(i int) ([]int64, bool) {
	cv := c.value(i)
	if cv == nil {
		return nil, false
	}
	return cv.knownInts()
}

// elems returns the elements of integer input i as dims, some perhaps
// unknown or symbolic (the output of Shape, for instance).
func (c *inferCtx) elems(i int) ([]symDim, bool) {
	cv := c.value(i)
	if cv == nil || cv.ints == nil {
		return nil, false
	}
	return cv.ints, true
}

// floats returns the elements of input i (any numeric type) when all are
// known.
func (c *inferCtx) floats(i int) ([]float64, bool) {
	cv := c.value(i)
	if cv == nil {
		return nil, false
	}
	return cv.knownFloats()
}

// intsParam reads an integer list that is an attribute before opset
// `since` and input `input` from it. given is false when it is absent;
// known is false when it is an input whose value is not known.
func (c *inferCtx) intsParam(attr string, input int, since int64) (valueList []int64, given, known bool) {
	if c.opset < since {
		a := c.n.Attr(attr)
		if a == nil {
			return nil, false, true
		}
		return a.GetInts(), true, true
	}
	if !c.has(input) {
		return nil, false, true
	}
	valueList, known = c.ints(input)
	return valueList, true, known
}

// sameAs returns a rule whose one output has the type of input i.
func sameAs(i int) inferRule {
	return func(c *inferCtx) ([]typeInfo, error) { return []typeInfo{c.arg(i)}, nil }
}
