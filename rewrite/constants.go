package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// ConstantsToInitializers turns the output of every Constant node into an
// initializer of the graph it is in (subgraphs included), so that weights
// stored in Constant nodes (PaddleOCR, spox and other exporters) are seen
// as weights by the quantizer. The value keeps its name and its readers.
// A Constant whose output is also a graph output is left alone.
var ConstantsToInitializers = Pass{Name: "constants-to-initializers", Apply: constantsToInitializers}

func constantsToInitializers(m *graph.Model, log *Log) error {
	for _, g := range m.Graph.Graphs() {
		dead := map[*graph.Node]bool{}
		for _, n := range g.Nodes {
			if n.OpType != "Constant" || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Outputs) != 1 {
				continue
			}
			out := n.Outputs[0]
			if out == nil || out.IsGraphOutput() {
				continue
			}
			t, err := ConstantValue(n)
			if err != nil {
				return err
			}
			if t == nil {
				continue // sparse or otherwise not a dense tensor: leave it
			}
			g.SetConst(out, t)
			dead[n] = true
		}
		if len(dead) > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: %d Constant nodes became initializers", g.Name, len(dead))
		}
	}
	return nil
}

// ConstantValue returns the tensor a Constant node produces, from whichever
// value attribute it has, or nil for a sparse_value.
func ConstantValue(n *graph.Node) (*graph.Tensor, error) {
	if len(n.Attrs) != 1 {
		return nil, fmt.Errorf("Constant node %s must have exactly one attribute, has %d", n.Label(), len(n.Attrs))
	}
	a := n.Attrs[0]
	switch a.GetName() {
	case "value":
		return n.AttrTensor("value")
	case "value_float":
		return graph.MustTensor(graph.Float, nil, []float32{a.GetF()}), nil
	case "value_floats":
		return graph.MustTensor(graph.Float, []int64{int64(len(a.GetFloats()))}, append([]float32{}, a.GetFloats()...)), nil
	case "value_int":
		return graph.MustTensor(graph.Int64, nil, []int64{a.GetI()}), nil
	case "value_ints":
		return graph.MustTensor(graph.Int64, []int64{int64(len(a.GetInts()))}, append([]int64{}, a.GetInts()...)), nil
	case "value_string":
		return graph.MustTensor(graph.String, nil, []string{string(a.GetS())}), nil
	case "value_strings":
		return graph.MustTensor(graph.String, []int64{int64(len(a.GetStrings()))}, n.AttrStrings("value_strings", nil)), nil
	case "sparse_value":
		return nil, nil
	}
	return nil, fmt.Errorf("Constant node %s has unknown attribute %q", n.Label(), a.GetName())
}

// RemoveDeadNodes deletes nodes none of whose outputs reach a graph output
// (directly or through subgraphs), and initializers nothing reads.
var RemoveDeadNodes = Pass{Name: "remove-dead-nodes", Apply: removeDeadNodes}

func removeDeadNodes(m *graph.Model, log *Log) error {
	for {
		uses := m.Graph.UseMap()
		removed := 0
		for _, g := range m.Graph.Graphs() {
			dead := map[*graph.Node]bool{}
			for _, n := range g.Nodes {
				live := false
				for _, v := range n.Outputs {
					if v != nil && (len(uses[v]) > 0 || v.IsGraphOutput()) {
						live = true
					}
				}
				if !live {
					dead[n] = true
				}
			}
			if len(dead) > 0 {
				g.RemoveNodes(dead)
				removed += len(dead)
			}
			var kept []*graph.Value
			dropped := map[*graph.Value]bool{}
			for _, v := range g.Initializers {
				if len(uses[v]) > 0 || v.IsGraphOutput() {
					kept = append(kept, v)
				} else {
					dropped[v] = true
					removed++
				}
			}
			g.Initializers = kept
			// IR < 4 lists every initializer as a graph input too; an
			// unused one goes from both lists.
			var inputs []*graph.Value
			for _, v := range g.Inputs {
				if !dropped[v] {
					inputs = append(inputs, v)
				}
			}
			g.Inputs = inputs
		}
		if removed == 0 {
			return nil
		}
		log.Changef("removed %d dead nodes and unused initializers", removed)
	}
}
