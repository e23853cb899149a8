package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// heavyOps are the operators whose integer kernels pay for the
// QuantizeLinear / DequantizeLinear conversions around them: most of a
// network's arithmetic happens in them.
var heavyOps = map[string]bool{"Conv": true, "ConvTranspose": true, "Gemm": true, "MatMul": true}

// placeForSpeed annotates m, then repeatedly keeps in float every light
// (non-heavy) operator whose quantization would add conversions: an
// activation input that is quantized only for its sake (its producer runs
// in float and no other quantized operator reads it), or an output that
// only float operators (or the graph's caller) read. Such an operator
// would run as DequantizeLinear -> integer kernel -> QuantizeLinear between
// float neighbours, which costs more than it saves; chains of light
// operators between quantized convolutions stay quantized. The nodes of
// float (with the reasons) start in float. The reason is recorded in each
// node's decision.
func placeForSpeed(m *graph.Model, opts Options, float map[*graph.Node]string) (*Plan, error) {
	skip := map[*graph.Node]string{}
	for n, why := range float {
		skip[n] = why
	}
	for round := 0; ; round++ {
		p, err := annotate(m, opts, skip)
		if err != nil {
			return nil, err
		}
		quantized := map[*graph.Node]bool{}
		for _, d := range p.Decisions {
			if d.Quantized {
				quantized[d.Node] = true
			}
		}
		uses := m.Graph.UseMap()
		added := 0
		for _, d := range p.Decisions {
			n := d.Node
			if !d.Quantized || heavyOps[n.OpType] {
				continue
			}
			if reason := churn(p, n, quantized, uses); reason != "" {
				skip[n] = reason
				added++
			}
		}
		if added == 0 {
			return p, nil
		}
		if round > len(p.Decisions) {
			return nil, fmt.Errorf("placement did not settle after %d rounds", round)
		}
	}
}

// churn returns why quantizing the light node n would add conversions, or
// "" if it adds none.
func churn(p *Plan, n *graph.Node, quantized map[*graph.Node]bool, uses graph.Uses) string {
	outSize := elements(n.Output(0))
	for _, v := range n.Inputs {
		s := p.Specs[v]
		if v == nil || s == nil || s.Role != RoleActivation || v.IsConst() {
			continue
		}
		if in := elements(v); in >= 0 && outSize > 0 && in*8 <= outSize {
			continue // converting a small input (an SE gate, a bias row) costs little
		}
		if !quantizedElsewhere(p, v, n, quantized, uses) {
			return fmt.Sprintf("left in float for speed: input %q comes from a float operator", v.Name)
		}
	}
	for _, o := range n.Outputs {
		s := p.Specs[o]
		if o == nil || s == nil {
			continue
		}
		read := false
		for _, r := range uses[o] {
			if quantized[r] {
				read = true
			}
		}
		if !read {
			return fmt.Sprintf("left in float for speed: only float operators read its output %q", o.Name)
		}
	}
	return ""
}

// quantizedElsewhere reports whether v would be quantized without n: its
// producer is quantized, or another quantized operator reads it.
func quantizedElsewhere(p *Plan, v *graph.Value, n *graph.Node, quantized map[*graph.Node]bool, uses graph.Uses) bool {
	if v.Producer != nil && quantized[v.Producer] {
		return true
	}
	if v.Producer == nil {
		return true // a graph input: quantized once at the entry
	}
	for _, r := range uses[v] {
		if r != n && quantized[r] {
			return true
		}
	}
	return false
}

// elements returns a value's static element count, or -1 if unknown.
func elements(v *graph.Value) int64 {
	dims, ok := v.Shape()
	if !ok {
		return -1
	}
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}
