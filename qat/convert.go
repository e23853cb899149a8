package qat

import (
	"fmt"
	"sort"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// Role says what a FakeQuant node quantizes.
type Role int

const (
	Activation Role = iota
	Weight
	// Bias is a Conv / ConvTranspose / Gemm bias quantized to int32 with
	// scale input scale x weight scale, as export stores it: its Scale is
	// the output of a Mul of the two scales, and its width never changes.
	Bias
)

// FakeQuantInfo describes one FakeQuant node of a training model.
type FakeQuantInfo struct {
	Node  *graph.Node
	Role  Role
	Input *graph.Value // the float value it quantizes (an initializer for Weight and Bias)
	Scale *graph.Value // a constant, except for Bias (computed from two constants)
	Zero  *graph.Value
}

// TrainingModel is a QDQ model converted for training: Q/DQ pairs are
// FakeQuant nodes, integer weights and int32 biases are float
// initializers again. A bias that export stores as int32 (see
// rewrite.QuantizeBiases) is read through a FakeQuant of role Bias, so the
// training graph computes exactly what the exported model computes.
type TrainingModel struct {
	Model      *graph.Model
	FakeQuants []*FakeQuantInfo
	// Weights are the float initializers training may change: weights
	// behind FakeQuant nodes and float biases (including biases that were
	// int32 in the QDQ model).
	Weights []*graph.Value
}

// ToTraining converts a QDQ model (either weight form: float weights behind
// Q -> DQ, or integer weights feeding DQ) into a training model, in place.
// A DequantizeLinear whose input is neither a QuantizeLinear nor a
// constant is left as it is.
func ToTraining(m *graph.Model) (*TrainingModel, error) {
	tm := &TrainingModel{Model: m}
	uses := m.Graph.UseMap()
	nm := graph.NewNamer(m.Graph)
	if m.Opset(Domain) == 0 {
		m.SetOpset(Domain, 1)
	}
	weights := map[*graph.Value]bool{}
	for _, g := range m.Graph.Graphs() {
		dead := map[*graph.Node]bool{}
		for _, dq := range g.Nodes {
			if dq.OpType != "DequantizeLinear" || (dq.Domain != "" && dq.Domain != "ai.onnx") {
				continue
			}
			q := dq.Input(0)
			scale, zp := dq.Input(1), dq.Input(2)
			if zp == nil {
				return nil, fmt.Errorf("node %s: a DequantizeLinear without zero point cannot be trained (its type is implicit)", dq.Label())
			}
			out := dq.Outputs[0]
			switch {
			case q.Producer != nil && q.Producer.OpType == "QuantizeLinear" && len(uses[q]) == 1 && !q.IsGraphOutput():
				qn := q.Producer
				if !sameParams(qn, dq) {
					return nil, fmt.Errorf("node %s: QuantizeLinear and DequantizeLinear disagree on scale or zero point", dq.Label())
				}
				x := qn.Input(0)
				fq := newFakeQuant(g, nm, x, scale, zp, dq, out)
				role := Activation
				if x.IsConst() && x.Const.DType == graph.Float {
					role = Weight
					weights[x] = true
				}
				tm.FakeQuants = append(tm.FakeQuants, &FakeQuantInfo{Node: fq, Role: role, Input: x, Scale: scale, Zero: zp})
				dead[qn], dead[dq] = true, true
			case q.IsConst() && q.Const.DType == graph.Int32:
				// An int32 bias: train it in float; export quantizes it again.
				f, err := dequantizeConst(q.Const, scale.Const, zp.Const, dq)
				if err != nil {
					return nil, fmt.Errorf("bias %q: %w", q.Name, err)
				}
				g.SetConst(out, f)
				weights[out] = true
				dead[dq] = true
			case q.IsConst():
				f, err := dequantizeConst(q.Const, scale.Const, zp.Const, dq)
				if err != nil {
					return nil, fmt.Errorf("weight %q: %w", q.Name, err)
				}
				w := g.AddInitializer(nm, trimSuffix(q.Name, "_quantized"), f)
				fq := newFakeQuant(g, nm, w, scale, zp, dq, out)
				weights[w] = true
				tm.FakeQuants = append(tm.FakeQuants, &FakeQuantInfo{Node: fq, Role: Weight, Input: w, Scale: scale, Zero: zp})
				dead[dq] = true
			}
		}
		g.RemoveNodes(dead)
		if err := g.TopoSort(); err != nil {
			return nil, err
		}
	}
	// Float biases of nodes whose weight is fake-quantized train too.
	for _, fq := range tm.FakeQuants {
		if fq.Role != Weight {
			continue
		}
		for _, r := range uses[fq.Node.Outputs[0]] {
			if b := r.Input(2); b != nil && b.IsConst() && b.Const.DType == graph.Float && (r.OpType == "Conv" || r.OpType == "Gemm" || r.OpType == "ConvTranspose") {
				weights[b] = true
			}
		}
	}
	if err := addBiasFakeQuants(tm, nm); err != nil {
		return nil, err
	}
	for v := range weights {
		tm.Weights = append(tm.Weights, v)
	}
	sort.Slice(tm.Weights, func(i, j int) bool { return tm.Weights[i].Name < tm.Weights[j].Name })
	pruneUnused(m)
	return tm, nil
}

func trimSuffix(s, suf string) string {
	if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)]
	}
	return s
}

// newFakeQuant makes a FakeQuant node computing out (the DequantizeLinear's
// output value, which keeps its identity and readers).
func newFakeQuant(g *graph.Graph, nm *graph.Namer, x, scale, zp *graph.Value, dq *graph.Node, out *graph.Value) *graph.Node {
	n := &graph.Node{Name: nm.Name(out.Name + "_fakequant"), OpType: FakeQuantOp, Domain: Domain, Inputs: []*graph.Value{x, scale, zp}, Outputs: []*graph.Value{out}, Graph: g}
	out.Producer, out.Index = n, 0
	for _, a := range []string{"axis", "block_size"} {
		if dq.HasAttr(a) {
			n.SetAttr(a, dq.AttrInt(a, 0))
		}
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

func sameParams(q, dq *graph.Node) bool {
	if q.Input(1) != dq.Input(1) && !equalConst(q.Input(1), dq.Input(1)) {
		return false
	}
	if q.Input(2) != dq.Input(2) && !equalConst(q.Input(2), dq.Input(2)) {
		return false
	}
	return q.AttrInt("axis", 1) == dq.AttrInt("axis", 1) && q.AttrInt("block_size", 0) == dq.AttrInt("block_size", 0)
}

func equalConst(a, b *graph.Value) bool {
	if a == nil || b == nil || !a.IsConst() || !b.IsConst() || a.Const.DType != b.Const.DType || a.Const.Len() != b.Const.Len() {
		return false
	}
	x, _ := a.Const.Float32s()
	y, _ := b.Const.Float32s()
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// dequantizeConst computes DequantizeLinear on a constant.
func dequantizeConst(q, scale, zp *graph.Tensor, dq *graph.Node) (*graph.Tensor, error) {
	if scale == nil || zp == nil {
		return nil, fmt.Errorf("scale and zero point must be constants")
	}
	qs, err := q.Int64s()
	if err != nil {
		return nil, err
	}
	s, _ := scale.Float32s()
	z, err := zp.Int64s()
	if err != nil {
		return nil, err
	}
	l, err := layoutOf(dq, q, scale)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(qs))
	for i, v := range qs {
		k := l.index(i)
		out[i] = quant.Dequantize(v, s[k], z[k])
	}
	return graph.MustTensor(graph.Float, q.Shape, out), nil
}

func pruneUnused(m *graph.Model) {
	uses := m.Graph.UseMap()
	for _, g := range m.Graph.Graphs() {
		var kept []*graph.Value
		for _, v := range g.Initializers {
			if len(uses[v]) > 0 || v.IsGraphOutput() {
				kept = append(kept, v)
			}
		}
		g.Initializers = kept
		// Initializers listed as graph inputs (IR < 4 models) go with them:
		// an input left without its initializer would become a required
		// input of the written model.
		var inputs []*graph.Value
		for _, v := range g.Inputs {
			if v.Const == nil || len(uses[v]) > 0 || v.IsGraphOutput() {
				inputs = append(inputs, v)
			}
		}
		g.Inputs = inputs
	}
}
