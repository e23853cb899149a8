package qat

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/rewrite"
)

// widerType is the 8-bit type that holds a 4-bit type's values.
var widerType = map[graph.DType]graph.DType{graph.Uint4: graph.Uint8, graph.Int4: graph.Int8}

// widenActivations4 rewrites every 4-bit activation quantizer (a
// QuantizeLinear of a computed value, per tensor) as the same quantizer in
// an 8-bit type, preceded by a Clip to the real range the 4-bit type
// covers, and its DequantizeLinear readers with it. The arithmetic is
// unchanged: round(clip(x)/s) + z lands in the 4-bit range, and
// dequantizing gives the same values. It exists for ONNX Runtime: its
// graph optimizer (level extended and above, the default) moves Q/DQ
// pairs across MaxPool and then rejects the model it made ("Type
// 'tensor(uint4)' of input parameter ... of operator (MaxPool) ... is
// invalid", ONNX Runtime 1.21 and 1.30), so a model with uint4
// activations only loads with optimizations turned down. In 8-bit types
// it loads as it is and runs its convolutions as integer kernels. 4-bit
// weights are kept: they only feed DequantizeLinear. It returns how many
// quantizers it rewrote.
func widenActivations4(m *graph.Model) (int, error) {
	nm := graph.NewNamer(m.Graph)
	done := 0
	for _, g := range m.Graph.Graphs() {
		uses := g.UseMap()
		wide := map[*graph.Value]*graph.Value{} // 4-bit zero point -> 8-bit copy
		widen := func(zp *graph.Value) (*graph.Value, error) {
			if w, ok := wide[zp]; ok {
				return w, nil
			}
			nz, err := retypeZeroPoint(zp.Const, widerType[zp.Const.DType])
			if err != nil {
				return nil, err
			}
			w := g.AddInitializer(nm, zp.Name+"_8bit", nz)
			wide[zp] = w
			return w, nil
		}
		for _, q := range append([]*graph.Node{}, g.Nodes...) {
			if q.OpType != "QuantizeLinear" || (q.Domain != "" && q.Domain != "ai.onnx") {
				continue
			}
			x, scale, zp := q.Input(0), q.Input(1), q.Input(2)
			if x.IsConst() || zp == nil || !zp.IsConst() || !scale.IsConst() || widerType[zp.Const.DType] == graph.Undefined {
				continue
			}
			if scale.Const.Len() != 1 {
				return done, fmt.Errorf("node %s: per-axis 4-bit activations cannot be widened for ONNX Runtime", q.Label())
			}
			readers := uses[q.Outputs[0]]
			for _, r := range readers {
				if r.OpType != "DequantizeLinear" || r.Input(2) != zp {
					return done, fmt.Errorf("node %s: its 4-bit output is read by %s, not by a DequantizeLinear with the same zero point", q.Label(), r.Label())
				}
			}
			lo, hi, err := clipBounds(scale.Const, zp.Const, 4)
			if err != nil {
				return done, fmt.Errorf("node %s: %w", q.Label(), err)
			}
			loV := g.AddInitializer(nm, x.Name+"_clip_lo", lo)
			hiV := g.AddInitializer(nm, x.Name+"_clip_hi", hi)
			c := g.NewNode(nm, "Clip", "", []*graph.Value{x, loV, hiV}, []string{x.Name + "_clipped4"}, nil)
			w, err := widen(zp)
			if err != nil {
				return done, fmt.Errorf("node %s: %w", q.Label(), err)
			}
			q.Inputs[0], q.Inputs[2] = c.Outputs[0], w
			for _, r := range readers {
				r.Inputs[2] = w
			}
			done++
		}
		if done > 0 {
			if err := g.TopoSort(); err != nil {
				return done, err
			}
		}
	}
	if done > 0 {
		pruneUnused(m)
	}
	return done, nil
}

// widenActivations4Pass is widenActivations4 as a named rewrite pass (its
// log entries carry the pass name).
var widenActivations4Pass = rewrite.Pass{Name: "widen-4bit-activations", Apply: func(m *graph.Model, log *rewrite.Log) error {
	n, err := widenActivations4(m)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Changef("wrote %d 4-bit activation quantizers as 8-bit types behind a Clip to their 4-bit range (same values; ONNX Runtime rejects uint4 next to MaxPool; --target onnx keeps the 4-bit types)", n)
	}
	return nil
}}
