package qat

import (
	"github.com/onnxq/onnxq/graph"
)

// biasReaders are the ops whose bias (input 2) export stores as int32
// (rewrite.QuantizeBiases).
var biasReaders = map[string]bool{"Conv": true, "ConvTranspose": true, "Gemm": true}

// addBiasFakeQuants puts a FakeQuant of role Bias in front of every float
// bias that export will store as int32: a rank-1 constant bias of a Conv,
// ConvTranspose or Gemm (alpha = beta = 1) whose input and weight are
// FakeQuant outputs with a per-tensor input scale and a per-tensor or
// per-channel weight scale. The bias is quantized with zero point 0 and
// scale input scale x weight scale, computed by a Mul node in the graph so
// that learned scales and precision schedules carry over; this is exactly
// rewrite.QuantizeBiases followed by DequantizeLinear, so training,
// evaluation during training and the exported model agree. Without it a
// bias smaller than half its int32 step (input scale 17 x weight scale 0.1
// on mnist-7 at 4 bits) trains in float and silently becomes 0 on export.
func addBiasFakeQuants(tm *TrainingModel, nm *graph.Namer) error {
	byOutput := map[*graph.Value]*FakeQuantInfo{}
	for _, fq := range tm.FakeQuants {
		byOutput[fq.Node.Outputs[0]] = fq
	}
	uses := tm.Model.Graph.UseMap()
	for _, g := range tm.Model.Graph.Graphs() {
		added := false
		for _, n := range append([]*graph.Node{}, g.Nodes...) {
			if !biasReaders[n.OpType] || n.Domain != "" && n.Domain != "ai.onnx" {
				continue
			}
			b := n.Input(2)
			if b == nil || !b.IsConst() || b.Const.DType != graph.Float || b.Const.Rank() != 1 || len(uses[b]) != 1 {
				continue
			}
			if n.OpType == "Gemm" && (n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1) {
				continue
			}
			x, w := byOutput[n.Input(0)], byOutput[n.Input(1)]
			if x == nil || w == nil || x.Role != Activation || w.Role != Weight || !x.Scale.IsConst() || !w.Scale.IsConst() {
				continue
			}
			xs, ws := x.Scale.Const.Len(), w.Scale.Const.Len()
			if xs != 1 || (ws != 1 && ws != b.Const.Len()) {
				continue
			}
			var zshape []int64
			attrs := map[string]any{}
			if ws > 1 {
				zshape = []int64{int64(ws)}
				attrs["axis"] = int64(0)
			}
			mul := g.NewNode(nm, "Mul", "", []*graph.Value{x.Scale, w.Scale}, []string{b.Name + "_scale"}, nil)
			zp := g.AddInitializer(nm, b.Name+"_zero_point", graph.Zeros(graph.Int32, zshape))
			fqn := g.NewNode(nm, FakeQuantOp, Domain, []*graph.Value{b, mul.Outputs[0], zp}, []string{b.Name + "_fakequant"}, attrs)
			n.Inputs[2] = fqn.Outputs[0]
			tm.FakeQuants = append(tm.FakeQuants, &FakeQuantInfo{Node: fqn, Role: Bias, Input: b, Scale: mul.Outputs[0], Zero: zp})
			added = true
		}
		if added {
			if err := g.TopoSort(); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeBiasFakeQuant undoes addBiasFakeQuants for one bias: its reader
// reads the float bias again (export quantizes it), and the scale product
// goes when nothing else reads it.
func removeBiasFakeQuant(info *FakeQuantInfo) {
	fq := info.Node
	g := fq.Graph
	g.ReplaceUses(fq.Outputs[0], info.Input, true)
	dead := map[*graph.Node]bool{fq: true}
	if p := info.Scale.Producer; p != nil && p.OpType == "Mul" && len(g.UseMap()[info.Scale]) == 1 {
		dead[p] = true
	}
	g.RemoveNodes(dead)
}
