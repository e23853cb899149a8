package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// FoldWeights replaces every QuantizeLinear whose input, scale and zero
// point are constants (a float weight behind Q -> DQ, as training leaves
// it) by the integer initializer it computes, so the deployable model
// stores int8 / int4 weights feeding DequantizeLinear.
var FoldWeights = Pass{Name: "fold-weights", Apply: foldWeights}

func foldWeights(m *graph.Model, log *Log) error {
	nm := graph.NewNamer(m.Graph)
	for _, g := range m.Graph.Graphs() {
		dead := map[*graph.Node]bool{}
		for _, q := range g.Nodes {
			if q.OpType != "QuantizeLinear" || !q.Input(0).IsConst() || !q.Input(1).IsConst() || q.Input(2) == nil || !q.Input(2).IsConst() {
				continue
			}
			x, scale, zp := q.Input(0), q.Input(1).Const, q.Input(2).Const
			s := &Spec{Value: x, Axis: -1, BlockSize: int(q.AttrInt("block_size", 0))}
			if scale.Len() > 1 || s.BlockSize > 0 {
				s.Axis = int(q.AttrInt("axis", 1))
				if s.Axis < 0 {
					s.Axis += x.Const.Rank()
				}
			}
			params, err := paramsOf(scale, zp)
			if err != nil {
				return fmt.Errorf("node %s: %w", q.Label(), err)
			}
			if err := checkParamCount(x.Const, s, len(params)); err != nil {
				return fmt.Errorf("node %s: %w", q.Label(), err)
			}
			qt, err := quantizeConst(x.Const, params, s, zp.DType)
			if err != nil {
				return fmt.Errorf("node %s: %w", q.Label(), err)
			}
			out := q.Outputs[0]
			g.SetConst(out, qt)
			dead[q] = true
		}
		if len(dead) > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: stored %d quantized weights as integer initializers", g.Name, len(dead))
		}
	}
	_ = nm
	return removeDeadNodes(m, &Log{})
}

func paramsOf(scale, zp *graph.Tensor) ([]quant.Params, error) {
	s, err := scale.Float32s()
	if err != nil {
		return nil, err
	}
	z, err := zp.Int64s()
	if err != nil {
		return nil, err
	}
	if len(s) != len(z) {
		return nil, fmt.Errorf("%d scales but %d zero points", len(s), len(z))
	}
	out := make([]quant.Params, len(s))
	for i := range s {
		out[i] = quant.Params{Scale: s[i], ZeroPoint: z[i]}
	}
	return out, nil
}

// checkParamCount verifies that a weight has as many params as its
// quantization axis (or blocks) needs: a scale of the wrong length passes
// the ONNX checker but fails in ONNX Runtime.
func checkParamCount(w *graph.Tensor, s *Spec, n int) error {
	if s.Axis < 0 {
		if n != 1 {
			return fmt.Errorf("%d scales for a per-tensor quantizer", n)
		}
		return nil
	}
	if s.Axis >= w.Rank() {
		return fmt.Errorf("axis %d out of range for a rank-%d weight", s.Axis, w.Rank())
	}
	want := int(w.Shape[s.Axis])
	if s.BlockSize > 0 {
		want = (want + s.BlockSize - 1) / s.BlockSize * (w.Len() / int(w.Shape[s.Axis]))
	}
	if n != want {
		return fmt.Errorf("%d scales, but axis %d of shape %v needs %d", n, s.Axis, w.Shape, want)
	}
	return nil
}

// QuantizeBiases stores the float bias of a Conv, ConvTranspose or Gemm as
// int32 feeding DequantizeLinear, with scale input scale x weight scale,
// when both the input and the weight come from DequantizeLinear with
// constant per-tensor (input) and per-tensor or per-channel (weight)
// scales. Where an int32 encoding would overflow, the bias stays in float
// and the log says so.
var QuantizeBiases = Pass{Name: "quantize-biases", Apply: quantizeBiases}

func quantizeBiases(m *graph.Model, log *Log) error {
	nm := graph.NewNamer(m.Graph)
	for _, g := range m.Graph.Graphs() {
		done := 0
		for _, n := range g.Nodes {
			if n.OpType != "Conv" && n.OpType != "ConvTranspose" && n.OpType != "Gemm" {
				continue
			}
			b := n.Input(2)
			if b == nil || !b.IsConst() || b.Const.DType != graph.Float || b.Const.Rank() != 1 {
				continue
			}
			if n.OpType == "Gemm" && (n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1) {
				continue
			}
			xs, ok1 := dqScale(n.Input(0))
			ws, ok2 := dqScale(n.Input(1))
			if !ok1 || !ok2 || len(xs) != 1 || (len(ws) != 1 && len(ws) != b.Const.Len()) {
				continue
			}
			data, _ := b.Const.Float32s()
			sc := make([]float32, len(data))
			qv := make([]int32, len(data))
			overflow := false
			for c, v := range data {
				w := ws[0]
				if len(ws) > 1 {
					w = ws[c]
				}
				sc[c] = xs[0] * w
				q := quant.Quantize(v, sc[c], 0, graph.Int32)
				if q == (1<<31-1) || q == -(1<<31) {
					overflow = true
				}
				qv[c] = int32(q)
			}
			if overflow {
				log.Changef("bias %q of node %s stays float: int32 at scale input x weight would overflow", b.Name, n.Label())
				continue
			}
			shape := []int64{int64(len(sc))}
			var scaleT *graph.Tensor
			attrs := map[string]any{}
			if len(ws) == 1 {
				scaleT = graph.Scalar(sc[0])
				shape = nil
			} else {
				scaleT = graph.MustTensor(graph.Float, shape, sc)
				attrs["axis"] = int64(0)
			}
			bq := g.AddInitializer(nm, b.Name+"_quantized", graph.MustTensor(graph.Int32, b.Const.Shape, qv))
			sv := g.AddInitializer(nm, b.Name+"_scale", scaleT)
			zv := g.AddInitializer(nm, b.Name+"_zero_point", graph.Zeros(graph.Int32, shape))
			dq := g.NewNode(nm, "DequantizeLinear", "", []*graph.Value{bq, sv, zv}, []string{b.Name + "_dequantized"}, attrs)
			n.Inputs[2] = dq.Outputs[0]
			done++
		}
		if done > 0 {
			if err := g.TopoSort(); err != nil {
				return err
			}
			log.Changef("graph %q: stored %d biases as int32", g.Name, done)
		}
	}
	return removeDeadNodes(m, &Log{})
}

// dqScale returns the constant scales of the DequantizeLinear producing v.
func dqScale(v *graph.Value) ([]float32, bool) {
	if v == nil || v.Producer == nil || v.Producer.OpType != "DequantizeLinear" || !v.Producer.Input(1).IsConst() {
		return nil, false
	}
	s, err := v.Producer.Input(1).Const.Float32s()
	return s, err == nil
}

// CheckQDQ verifies every QuantizeLinear / DequantizeLinear of the model
// against what runtimes require beyond the ONNX checker: constant scales
// and zero points of one length, positive finite scales, a per-axis scale
// length equal to the axis dimension where the data shape is known, zero
// point types the model's opset allows, and the opset for axis and
// block_size attributes.
func CheckQDQ(m *graph.Model) error {
	opset := m.Opset("")
	var problems []string
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.OpType != "QuantizeLinear" && n.OpType != "DequantizeLinear" || (n.Domain != "" && n.Domain != "ai.onnx") {
			return true
		}
		bad := func(format string, a ...any) {
			problems = append(problems, fmt.Sprintf("node %s: ", n.Label())+fmt.Sprintf(format, a...))
		}
		scale, zp := n.Input(1), n.Input(2)
		if !scale.IsConst() {
			bad("scale %q is not a constant", scale.Name)
			return true
		}
		s, _ := scale.Const.Float32s()
		for _, v := range s {
			if !(v > 0) || v > 3.4e38 {
				bad("scale %g is not a positive finite number", v)
				break
			}
		}
		if zp != nil && zp.IsConst() {
			if zp.Const.Len() != len(s) {
				bad("%d scales but %d zero points", len(s), zp.Const.Len())
			}
			switch zp.Const.DType {
			case graph.Int4, graph.Uint4, graph.Int16, graph.Uint16:
				if opset < 21 {
					bad("zero point type %s needs opset 21, the model has %d", zp.Const.DType, opset)
				}
			}
		}
		block := n.AttrInt("block_size", 0)
		if block > 0 && opset < 21 {
			bad("block_size needs opset 21")
		}
		if len(s) > 1 && block == 0 {
			if opset < 13 {
				bad("per-axis scales need opset 13")
			}
			data := n.Input(0)
			if dims, ok := data.Shape(); ok {
				axis := n.AttrInt("axis", 1)
				if axis < 0 {
					axis += int64(len(dims))
				}
				if axis < 0 || int(axis) >= len(dims) {
					bad("axis %d out of range for rank %d", n.AttrInt("axis", 1), len(dims))
				} else if dims[axis] >= 0 && dims[axis] != int64(len(s)) {
					bad("%d scales for axis %d of size %d", len(s), axis, dims[axis])
				}
			}
		}
		return true
	})
	if len(problems) > 0 {
		return fmt.Errorf("the model's Q/DQ nodes are not valid: %s", joinProblems(problems))
	}
	return nil
}

func joinProblems(p []string) string {
	const maxShown = 10
	s := ""
	for i, x := range p {
		if i == maxShown {
			return s + fmt.Sprintf("; and %d more", len(p)-maxShown)
		}
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}
