package rewrite

import (
	"math"

	"github.com/onnxq/onnxq/graph"
)

// FoldBatchNorm folds an inference-mode BatchNormalization into the Conv,
// ConvTranspose or Gemm that feeds it, when that node's output has no other
// reader and all weights and statistics are constants:
//
//	s = scale / sqrt(var + eps)
//	W' = W * s (per output channel), B' = (B - mean) * s + bias
//
// The folded node keeps the BatchNormalization's output value, so readers
// and graph outputs are unchanged.
var FoldBatchNorm = Pass{Name: "fold-batchnorm", Apply: foldBatchNorm}

// outChannelAxis gives, per op that can absorb a BatchNormalization, the
// axis of its weight that indexes output channels (before groups are taken
// into account for ConvTranspose).
var outChannelAxis = map[string]func(n *graph.Node) int{
	"Conv":          func(*graph.Node) int { return 0 },
	"ConvTranspose": func(*graph.Node) int { return 1 },
	"Gemm": func(n *graph.Node) int {
		if n.AttrInt("transB", 0) == 1 {
			return 0
		}
		return 1
	},
}

func foldBatchNorm(m *graph.Model, log *Log) error {
	for _, g := range m.Graph.Graphs() {
		uses := m.Graph.UseMap()
		nm := graph.NewNamer(m.Graph)
		dead := map[*graph.Node]bool{}
		folded := 0
		for _, bn := range g.Nodes {
			if bn.OpType != "BatchNormalization" || bn.AttrInt("training_mode", 0) != 0 || bn.AttrInt("spatial", 1) != 1 {
				continue
			}
			if len(bn.Outputs) > 1 {
				live := false
				for _, o := range bn.Outputs[1:] {
					if o != nil && (len(uses[o]) > 0 || o.IsGraphOutput()) {
						live = true
					}
				}
				if live {
					continue
				}
			}
			x := bn.Input(0)
			prod := x.Producer
			if prod == nil || prod.Graph != g || dead[prod] || len(uses[x]) != 1 || x.IsGraphOutput() {
				continue
			}
			axisOf, ok := outChannelAxis[prod.OpType]
			if !ok || !prod.Input(1).IsConst() {
				continue
			}
			if prod.OpType == "Gemm" && (prod.AttrFloat("alpha", 1) != 1 || prod.AttrFloat("beta", 1) != 1) {
				continue
			}
			params := make([][]float32, 4)
			okParams := true
			for i := range params {
				v := bn.Input(i + 1)
				if !v.IsConst() {
					okParams = false
					break
				}
				f, err := v.Const.Float32s()
				if err != nil {
					okParams = false
					break
				}
				params[i] = f
			}
			if !okParams {
				continue
			}
			w := prod.Input(1).Const
			if w.DType != graph.Float {
				continue
			}
			axis := axisOf(prod)
			groups := int(prod.AttrInt("group", 1))
			outCh := int(w.Shape[axis])
			if prod.OpType == "ConvTranspose" {
				outCh *= groups
			}
			if len(params[0]) != outCh {
				continue
			}
			eps := float64(bn.AttrFloat("epsilon", 1e-5))
			scale := make([]float32, outCh)
			shift := make([]float32, outCh)
			for c := range scale {
				s := float64(params[0][c]) / math.Sqrt(float64(params[3][c])+eps)
				scale[c] = float32(s)
				shift[c] = float32(float64(params[1][c]) - float64(params[2][c])*s)
			}
			var bias []float32
			if b := prod.Input(2); b != nil {
				if !b.IsConst() || b.Const.Len() != outCh {
					continue
				}
				bf, err := b.Const.Float32s()
				if err != nil {
					continue
				}
				bias = bf
			}
			newW := scaleChannels(w, axis, groups, prod.OpType == "ConvTranspose", scale)
			newB := make([]float32, outCh)
			for c := range newB {
				if bias != nil {
					newB[c] = bias[c] * scale[c]
				}
				newB[c] += shift[c]
			}
			wv := g.AddInitializer(nm, prod.Input(1).Name+"_bnfolded", newW)
			bv := g.AddInitializer(nm, bn.Outputs[0].Name+"_bias_bnfolded", graph.MustTensor(graph.Float, []int64{int64(outCh)}, newB))
			in := []*graph.Value{prod.Input(0), wv, bv}
			prod.Inputs = in
			// The producer now computes the BatchNormalization's output.
			out := bn.Outputs[0]
			prod.Outputs[0] = out
			out.Producer = prod
			out.Index = 0
			dead[bn] = true
			folded++
		}
		if folded > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: folded %d BatchNormalization nodes into the preceding Conv/ConvTranspose/Gemm", g.Name, folded)
		}
	}
	return RemoveDeadNodes.Apply(m, &Log{})
}

// scaleChannels multiplies a weight tensor by a per-output-channel factor.
// For ConvTranspose the weight is [C_in, C_out/groups, k...] and output
// channel o = group*(C_out/groups) + j.
func scaleChannels(w *graph.Tensor, axis, groups int, transposed bool, scale []float32) *graph.Tensor {
	src := w.Data.([]float32)
	out := make([]float32, len(src))
	outer := 1
	for _, d := range w.Shape[:axis] {
		outer *= int(d)
	}
	ch := int(w.Shape[axis])
	inner := len(src) / (outer * ch)
	perGroupIn := 1
	if transposed {
		perGroupIn = outer / groups
	}
	for o := 0; o < outer; o++ {
		for c := 0; c < ch; c++ {
			oc := c
			if transposed {
				oc = (o/perGroupIn)*ch + c
			}
			base := (o*ch + c) * inner
			for i := 0; i < inner; i++ {
				out[base+i] = src[base+i] * scale[oc]
			}
		}
	}
	return graph.MustTensor(graph.Float, w.Shape, out)
}
