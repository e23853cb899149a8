package rewrite

import (
	"github.com/onnxq/onnxq/graph"
)

// FoldConvAffine folds element-wise Mul and Add by constants that follow a
// Conv (or ConvTranspose, or Gemm) into its weight and bias:
//
//	y = (W*x + B) * a + c  ->  W' = W*a, B' = B*a + c
//
// where a and c are scalars or one value per output channel, and the
// Conv's output has no other reader. PaddleOCR's PP-LCNet exports a
// "learnable affine block" this way after every convolution; folding it
// removes two float operators per layer, which both speeds up the float
// model and lets the quantized Conv's output go straight to its
// QuantizeLinear. The arithmetic is exact up to float rounding.
var FoldConvAffine = Pass{Name: "fold-conv-affine", Apply: foldConvAffine}

func foldConvAffine(m *graph.Model, log *Log) error {
	total := applyRule(m, func(g *graph.Graph, n *graph.Node, uses graph.Uses, nm *graph.Namer) bool {
		if (n.OpType != "Mul" && n.OpType != "Add") || len(n.Inputs) != 2 {
			return false
		}
		for k := 0; k < 2; k++ {
			x, c := n.Inputs[k], n.Inputs[1-k]
			conv := x.Producer
			if conv == nil || conv.Graph != g || !c.IsConst() || c.Const.DType != graph.Float || len(uses[x]) != 1 || x.IsGraphOutput() {
				continue
			}
			axisOf, ok := outChannelAxis[conv.OpType]
			if !ok || !conv.Input(1).IsConst() || conv.Input(1).Const.DType != graph.Float {
				continue
			}
			if conv.OpType == "Gemm" && (conv.AttrFloat("alpha", 1) != 1 || conv.AttrFloat("beta", 1) != 1) {
				continue
			}
			w := conv.Input(1).Const
			groups := int(conv.AttrInt("group", 1))
			outCh := int(w.Shape[axisOf(conv)])
			if conv.OpType == "ConvTranspose" {
				outCh *= groups
			}
			outRank := w.Rank()
			if conv.OpType == "Gemm" {
				outRank = 2
			}
			vals, ok := channelValues(c.Const, outCh, outRank)
			if !ok {
				continue
			}
			bias := make([]float32, outCh)
			if b := conv.Input(2); b != nil {
				if !b.IsConst() || b.Const.Len() != outCh {
					continue
				}
				bf, err := b.Const.Float32s()
				if err != nil {
					continue
				}
				copy(bias, bf)
			}
			newW := w
			if n.OpType == "Mul" {
				newW = scaleChannels(w, axisOf(conv), groups, conv.OpType == "ConvTranspose", vals)
				for i := range bias {
					bias[i] *= vals[i]
				}
			} else {
				for i := range bias {
					bias[i] += vals[i]
				}
			}
			wv := conv.Input(1)
			if newW != w {
				wv = g.AddInitializer(nm, conv.Input(1).Name+"_affine", newW)
			}
			bv := g.AddInitializer(nm, n.Outputs[0].Name+"_bias", graph.MustTensor(graph.Float, []int64{int64(outCh)}, bias))
			conv.Inputs = []*graph.Value{conv.Inputs[0], wv, bv}
			out := n.Outputs[0]
			conv.Outputs[0] = out
			out.Producer, out.Index = conv, 0
			g.RemoveNodes(map[*graph.Node]bool{n: true})
			return true
		}
		return false
	})
	if total > 0 {
		log.Changef("folded %d constant Mul/Add nodes into the preceding Conv/ConvTranspose/Gemm", total)
	}
	return removeDeadNodes(m, &Log{})
}

// channelValues expands a constant that broadcasts against an
// [N, C, ...] output of the given rank as one value per channel: a
// scalar, [1], or [C, 1, ...] / [1, C, 1, ...]. ok is false for any other
// shape (a constant that varies along spatial axes cannot be folded).
func channelValues(t *graph.Tensor, ch, rank int) ([]float32, bool) {
	f, err := t.Float32s()
	if err != nil {
		return nil, false
	}
	out := make([]float32, ch)
	if len(f) == 1 && t.Rank() <= rank {
		for i := range out {
			out[i] = f[0]
		}
		return out, true
	}
	if !perChannelShape(t.Shape, int64(ch), rank) {
		return nil, false
	}
	copy(out, f)
	return out, true
}

// FoldAffineIntoConv folds a constant Mul and/or Add that feeds a Conv
// without padding into the Conv's weights and bias:
//
//	Conv(x*a + c) = Conv'(x) with W'[o,i,...] = W[o,i,...]*a_i and
//	B'[o] = B[o] + sum_{i,...} W[o,i,...]*c_i
//
// a and c are scalars or one value per input channel. With padding the
// padded border would see c where the original saw zero, so only
// unpadded convolutions (all pads 0, auto_pad NOTSET or VALID), with one
// group, qualify. The affine's result must have no other reader.
var FoldAffineIntoConv = Pass{Name: "fold-affine-into-conv", Apply: foldAffineIntoConv}

func foldAffineIntoConv(m *graph.Model, log *Log) error {
	total := applyRule(m, func(g *graph.Graph, conv *graph.Node, uses graph.Uses, nm *graph.Namer) bool {
		if conv.OpType != "Conv" || !unpadded(conv) || conv.AttrInt("group", 1) != 1 || !conv.Input(1).IsConst() || conv.Input(1).Const.DType != graph.Float {
			return false
		}
		y := conv.Input(0)
		aff := y.Producer
		if aff == nil || aff.Graph != g || (aff.OpType != "Mul" && aff.OpType != "Add") || len(uses[y]) != 1 || y.IsGraphOutput() {
			return false
		}
		x, c := constOperand(aff)
		if x == nil {
			return false
		}
		w := conv.Input(1).Const
		inCh := int(w.Shape[1])
		vals, ok := channelValues(c.Const, inCh, w.Rank())
		if !ok {
			return false
		}
		outCh := int(w.Shape[0])
		wf := w.Data.([]float32)
		inner := len(wf) / (outCh * inCh)
		bias := make([]float32, outCh)
		if b := conv.Input(2); b != nil {
			if !b.IsConst() || b.Const.Len() != outCh {
				return false
			}
			bf, err := b.Const.Float32s()
			if err != nil {
				return false
			}
			copy(bias, bf)
		}
		newW := w
		if aff.OpType == "Mul" {
			nw := make([]float32, len(wf))
			for o := 0; o < outCh; o++ {
				for i := 0; i < inCh; i++ {
					base := (o*inCh + i) * inner
					for k := 0; k < inner; k++ {
						nw[base+k] = wf[base+k] * vals[i]
					}
				}
			}
			newW = graph.MustTensor(graph.Float, w.Shape, nw)
		} else {
			for o := 0; o < outCh; o++ {
				var s float64
				for i := 0; i < inCh; i++ {
					base := (o*inCh + i) * inner
					for k := 0; k < inner; k++ {
						s += float64(wf[base+k]) * float64(vals[i])
					}
				}
				bias[o] += float32(s)
			}
		}
		wv := conv.Input(1)
		if newW != w {
			wv = g.AddInitializer(nm, conv.Input(1).Name+"_in_affine", newW)
		}
		bv := g.AddInitializer(nm, conv.Outputs[0].Name+"_in_bias", graph.MustTensor(graph.Float, []int64{int64(outCh)}, bias))
		conv.Inputs = []*graph.Value{x, wv, bv}
		g.RemoveNodes(map[*graph.Node]bool{aff: true})
		return true
	})
	if total > 0 {
		log.Changef("folded %d constant Mul/Add nodes into the following unpadded Conv", total)
	}
	return removeDeadNodes(m, &Log{})
}

// unpadded reports whether a Conv adds no padding.
func unpadded(n *graph.Node) bool {
	switch n.AttrString("auto_pad", "NOTSET") {
	case "NOTSET":
	case "VALID":
		return true
	default:
		return false
	}
	for _, p := range n.AttrInts("pads", nil) {
		if p != 0 {
			return false
		}
	}
	return true
}
