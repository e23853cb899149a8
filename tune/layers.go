package tune

import (
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/rewrite"
)

// Layer is one unit of the sensitivity analysis and of mixed precision: a
// quantized compute node (Conv, Gemm, MatMul, Add, ...) together with the
// activations quantized with it (a Relu or Clip that the runtime fuses
// into it). Data-movement nodes (MaxPool, Reshape, Concat, ...) are not
// layers: they follow the precision of their neighbours.
type Layer struct {
	// Name is the compute node's name; Nodes lists it and its absorbed
	// activations.
	Name  string   `json:"name"`
	Op    string   `json:"op"`
	Nodes []string `json:"nodes"`
	// Params is the number of weight elements (0 for layers without a
	// constant weight: Add, Mul, ...).
	Params int64 `json:"params"`
	// Outputs is the number of elements the layer writes per sample (as
	// measured on the first calibration sample; 0 when unknown).
	Outputs int64 `json:"outputs"`
	// Order is the node's position in the normalized model.
	Order int `json:"order"`
}

// HasWeights reports whether the layer has a constant weight to quantize.
func (l *Layer) HasWeights() bool { return l.Params > 0 }

// Cost estimates the bytes the layer stores and moves at a setting: its
// weights plus one sample's outputs, at the setting's bit widths (float:
// 32 bits). It orders the choices of the budget search; the reported size
// is the size of the written model.
func (l *Layer) Cost(s Setting) float64 {
	wb, ab := float64(s.WeightBits), float64(s.ActBits)
	if s.IsFloat() {
		wb, ab = 32, 32
	}
	return (float64(l.Params)*wb + float64(l.Outputs)*ab) / 8
}

// Layers returns the layers of a plan, in model order. Nodes without a
// name cannot be named in a config file: they are skipped (they keep the
// run's default precision), as are nodes whose name is not unique.
func Layers(p *rewrite.Plan) []Layer {
	rules := p.Options.Rules
	if rules == nil {
		rules = rewrite.DefaultRules
	}
	order := map[*graph.Node]int{}
	count := map[string]int{}
	i := 0
	p.Model.Graph.Walk(func(n *graph.Node) bool {
		order[n] = i
		i++
		count[n.Name]++
		return true
	})
	var out []Layer
	index := map[*graph.Node]int{}
	for _, d := range p.Decisions {
		n := d.Node
		if !d.Quantized || n.Name == "" || count[n.Name] > 1 {
			continue
		}
		rule := rules[n.OpType]
		if rule.Share || rule.ShareAll {
			continue
		}
		if rule.Absorbable && p.Specs[n.Input(0)] == nil {
			if k, ok := index[n.Input(0).Producer]; ok {
				out[k].Nodes = append(out[k].Nodes, n.Name)
			}
			continue
		}
		l := Layer{Name: n.Name, Op: n.OpType, Nodes: []string{n.Name}, Order: order[n]}
		for _, v := range n.Inputs {
			if s := p.Specs[v]; s != nil && s.Role == rewrite.RoleWeight {
				l.Params += int64(v.Const.Len())
			}
		}
		if dims, ok := n.Output(0).Shape(); ok {
			e := int64(1)
			for _, d := range dims {
				if d < 0 {
					e = 0
					break
				}
				e *= d
			}
			l.Outputs = e
		}
		index[n] = len(out)
		out = append(out, l)
	}
	return out
}
