package graph

import (
	"fmt"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Rules of the control-flow ops, whose subgraphs InferShapes infers before
// the node itself.
func init() {
	addRules(ifRule, "If")
	addRules(loopRule, "Loop")
}

// ifRule: each output is what both branches agree on; when the condition
// is known, the branch taken.
func ifRule(c *inferCtx) ([]typeInfo, error) {
	then, els := c.n.Subgraphs["then_branch"], c.n.Subgraphs["else_branch"]
	if then == nil || els == nil {
		return nil, c.errorf("needs then_branch and else_branch")
	}
	if len(then.Outputs) != len(els.Outputs) || len(then.Outputs) != len(c.n.Outputs) {
		return nil, c.errorf("branches have %d and %d outputs for %d node outputs", len(then.Outputs), len(els.Outputs), len(c.n.Outputs))
	}
	if cond, ok := c.ints(0); ok && len(cond) == 1 {
		taken := els
		if cond[0] != 0 {
			taken = then
		}
		outs := make([]typeInfo, len(taken.Outputs))
		for i, v := range taken.Outputs {
			outs[i], _ = typeInfoOf(v)
		}
		return outs, nil
	}
	outs := make([]typeInfo, len(then.Outputs))
	for i := range outs {
		a, _ := typeInfoOf(then.Outputs[i])
		b, _ := typeInfoOf(els.Outputs[i])
		t, err := joinTypes(a, b)
		if err != nil {
			return nil, c.errorf("output %d: %v", i, err)
		}
		outs[i] = t
	}
	return outs, nil
}

// joinTypes describes a value that has type a or type b.
func joinTypes(a, b typeInfo) (typeInfo, error) {
	dt := a.dt
	switch {
	case dt == Undefined:
		dt = b.dt
	case b.dt != Undefined && b.dt != dt:
		return typeInfo{}, fmt.Errorf("element types %s and %s differ", a.dt, b.dt)
	}
	if !a.ranked || !b.ranked || len(a.dims) != len(b.dims) {
		return unranked(dt), nil
	}
	dims := make([]symDim, len(a.dims))
	for i := range dims {
		dims[i] = joinDim(a.dims[i], b.dims[i])
	}
	return ranked(dt, dims), nil
}

// loopRule: a loop-carried value is its initial value or the body's
// output; a scan output stacks the body's output over the iterations (so
// its first dim is the trip count when that is known).
//
// Body inputs that the file leaves untyped get the iteration number's, the
// condition's and the initial values' types; where the body changes a
// carried value's shape, the differing dims are relaxed to unknown and the
// body is inferred again, so that no body value keeps a shape that only
// holds in the first iteration.
func loopRule(c *inferCtx) ([]typeInfo, error) {
	body := c.n.Subgraphs["body"]
	if body == nil {
		return nil, c.errorf("needs a body")
	}
	carried := len(c.n.Inputs) - 2
	if carried < 0 || len(body.Outputs) < carried+1 || len(body.Inputs) != carried+2 {
		return nil, c.errorf("body has %d inputs and %d outputs for %d loop-carried values", len(body.Inputs), len(body.Outputs), max(carried, 0))
	}
	fill := map[int]typeInfo{}
	for i, v := range body.Inputs {
		if v.Type != nil || v.Const != nil {
			continue
		}
		switch i {
		case 0:
			fill[i] = ranked(Int64, nil)
		case 1:
			fill[i] = ranked(Bool, nil)
		default:
			fill[i] = c.arg(i)
		}
	}
	snap := snapshotTypes(body)
	for round := 0; ; round++ {
		for i, t := range fill {
			body.Inputs[i].Type = nil
			if t.dt != Undefined || t.ranked {
				body.Inputs[i].Type = tensorTypeSym(t)
			}
		}
		if err := c.inf.graph(body); err != nil {
			return nil, err
		}
		changed := false
		for i, t := range fill {
			if i < 2 {
				continue
			}
			out, _ := typeInfoOf(body.Outputs[i-1])
			j, err := joinTypes(t, out)
			if err != nil {
				return nil, c.errorf("loop-carried value %d: %v", i-2, err)
			}
			if round >= 8 { // cannot happen: each round loses a dim or a rank
				j = unranked(j.dt)
			}
			if !j.equal(t) {
				fill[i], changed = j, true
			}
		}
		if !changed {
			break
		}
		snap.restore(c.inf)
	}
	trip := loopTripCount(c, body)
	outs := make([]typeInfo, len(c.n.Outputs))
	for i := range outs {
		if 1+i >= len(body.Outputs) {
			break
		}
		b, _ := typeInfoOf(body.Outputs[1+i])
		if i < carried {
			t, err := joinTypes(c.arg(2+i), b)
			if err != nil {
				return nil, c.errorf("loop-carried value %d: %v", i, err)
			}
			outs[i] = t
			continue
		}
		outs[i] = unranked(b.dt)
		if b.ranked {
			outs[i] = ranked(b.dt, append([]symDim{trip}, b.dims...))
		}
	}
	return outs, nil
}

// loopTripCount is M when it is known and the loop cannot stop earlier:
// there is no condition, or it is true and the body passes it through.
func loopTripCount(c *inferCtx, body *Graph) symDim {
	m, ok := c.ints(0)
	if !ok || len(m) != 1 {
		return unknownDim
	}
	if c.has(1) {
		cond, ok := c.ints(1)
		if !ok || len(cond) != 1 || cond[0] == 0 {
			return unknownDim
		}
		v := body.Outputs[0]
		for v.Producer != nil && v.Producer.OpType == "Identity" && len(v.Producer.Inputs) == 1 {
			v = v.Producer.Inputs[0]
		}
		if v != body.Inputs[1] {
			if b, ok := c.inf.constOf(v).knownIntsOrNil(); !ok || len(b) != 1 || b[0] == 0 {
				return unknownDim
			}
		}
	}
	return knownDim(max(m[0], 0))
}

// typeSnapshot holds the types of a graph's inputs and node outputs (its
// subgraphs' included) to infer the graph again from scratch.
type typeSnapshot map[*Value]*onnxpb.TypeProto

func snapshotTypes(g *Graph) typeSnapshot {
	s := typeSnapshot{}
	for _, v := range g.Inputs {
		s[v] = v.Type
	}
	g.Walk(func(n *Node) bool {
		for _, v := range n.Outputs {
			if v != nil {
				s[v] = v.Type
			}
		}
		return true
	})
	return s
}

func (s typeSnapshot) restore(inf *inferer) {
	for v, t := range s {
		v.Type = t
		delete(inf.consts, v)
	}
}
