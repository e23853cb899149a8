package qat

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// ToQDQ turns a training model back into a QDQ model with float weights,
// in place: every FakeQuant becomes QuantizeLinear -> DequantizeLinear
// with the (possibly learned) scale and zero point, except the bias
// FakeQuants, which go (the bias is float again, and export stores it as
// int32 with the same scale). A FakeQuant trained at
// a bit width narrower than its zero point's type (a precision schedule)
// gets the type of that width when ONNX has one (4, 8, 16 bits); for other
// widths the values are clipped to the narrow range before quantizing (a
// weight's values are clamped in place, an activation gets a Clip node), so
// the written model computes what training computed.
func ToQDQ(tm *TrainingModel) error {
	m := tm.Model
	nm := graph.NewNamer(m.Graph)
	for _, info := range tm.FakeQuants {
		if info.Role == Bias {
			removeBiasFakeQuant(info)
			continue
		}
		fq := info.Node
		g := fq.Graph
		x, scale, zp := fq.Inputs[0], fq.Inputs[1], fq.Inputs[2]
		out := fq.Outputs[0]
		bits := fq.AttrInt("bits", 0)
		if bits > 0 && int(bits) < zp.ElemType().Bits() {
			if t, ok := typeForBits(int(bits), zp.ElemType()); ok {
				nz, err := retypeZeroPoint(zp.Const, t)
				if err != nil {
					return fmt.Errorf("node %s: %w", fq.Label(), err)
				}
				zp = g.AddInitializer(nm, zp.Name+"_int"+fmt.Sprint(bits), nz)
			} else if x.IsConst() && x.Const.DType == graph.Float && len(m.Graph.UseMap()[x]) == 1 {
				// A weight: clamp its values to the narrow range instead.
				if err := clampConst(fq, x, scale.Const, zp.Const, int(bits)); err != nil {
					return fmt.Errorf("node %s: %w", fq.Label(), err)
				}
			} else {
				lo, hi, err := clipBounds(scale.Const, zp.Const, int(bits))
				if err != nil {
					return fmt.Errorf("node %s: %w", fq.Label(), err)
				}
				loV := g.AddInitializer(nm, x.Name+"_clip_lo", lo)
				hiV := g.AddInitializer(nm, x.Name+"_clip_hi", hi)
				if lo.Len() != 1 {
					return fmt.Errorf("node %s: %d-bit per-channel params need a 4, 8 or 16-bit type to be written", fq.Label(), bits)
				}
				c := g.NewNode(nm, "Clip", "", []*graph.Value{x, loV, hiV}, []string{x.Name + "_clipped"}, nil)
				x = c.Outputs[0]
			}
		}
		attrs := map[string]any{}
		for _, a := range []string{"axis", "block_size"} {
			if fq.HasAttr(a) {
				attrs[a] = fq.AttrInt(a, 0)
			}
		}
		q := g.NewNode(nm, "QuantizeLinear", "", []*graph.Value{x, scale, zp}, []string{out.Name + "_q"}, attrs)
		dq := g.NewNode(nm, "DequantizeLinear", "", []*graph.Value{q.Outputs[0], scale, zp}, []string{out.Name}, attrs)
		dq.Outputs[0] = out
		out.Producer, out.Index = dq, 0
		g.RemoveNodes(map[*graph.Node]bool{fq: true})
	}
	for _, g := range m.Graph.Graphs() {
		if err := g.TopoSort(); err != nil {
			return err
		}
	}
	// The training domain is gone from the graph.
	var ops []graph.Opset
	for _, o := range m.Opsets {
		if o.Domain != Domain {
			ops = append(ops, o)
		}
	}
	m.Opsets = ops
	needs := int64(13)
	for _, info := range tm.FakeQuants {
		switch info.Zero.ElemType() {
		case graph.Int4, graph.Uint4, graph.Int16, graph.Uint16:
			needs = 21
		}
		if b := info.Node.AttrInt("bits", 0); b == 4 || b == 16 {
			needs = 21
		}
	}
	if m.Opset("") < needs {
		m.SetOpset("", needs)
	}
	tm.FakeQuants = nil
	return nil
}

func typeForBits(bits int, like graph.DType) (graph.DType, bool) {
	lo, _ := like.IntRange()
	signed := lo < 0
	switch {
	case bits == 4 && signed:
		return graph.Int4, true
	case bits == 4:
		return graph.Uint4, true
	case bits == 8 && signed:
		return graph.Int8, true
	case bits == 8:
		return graph.Uint8, true
	case bits == 16 && signed:
		return graph.Int16, true
	case bits == 16:
		return graph.Uint16, true
	}
	return graph.Undefined, false
}

func retypeZeroPoint(z *graph.Tensor, t graph.DType) (*graph.Tensor, error) {
	vals, err := z.Int64s()
	if err != nil {
		return nil, err
	}
	out, err := graph.IntTensor(t, z.Shape, vals)
	if err != nil {
		return nil, fmt.Errorf("zero point: %w", err)
	}
	return out, nil
}

// clipBounds returns the real interval a per-tensor quantizer of the given
// bit width covers.
func clipBounds(scale, zp *graph.Tensor, bits int) (*graph.Tensor, *graph.Tensor, error) {
	s, err := scale.Float32s()
	if err != nil {
		return nil, nil, err
	}
	z, err := zp.Int64s()
	if err != nil {
		return nil, nil, err
	}
	lo, _ := zp.DType.IntRange()
	var qmin, qmax int64
	if lo < 0 {
		qmin, qmax = -(1 << (bits - 1)), 1<<(bits-1)-1
	} else {
		qmin, qmax = 0, 1<<bits-1
	}
	los := make([]float32, len(s))
	his := make([]float32, len(s))
	for i := range s {
		los[i] = float32(qmin-z[i]) * s[i]
		his[i] = float32(qmax-z[i]) * s[i]
	}
	if len(s) == 1 {
		return graph.Scalar(los[0]), graph.Scalar(his[0]), nil
	}
	return graph.MustTensor(graph.Float, scale.Shape, los), graph.MustTensor(graph.Float, scale.Shape, his), nil
}

// clampConst clamps a constant in place to the real range a FakeQuant of
// the given width covers, per channel.
func clampConst(fq *graph.Node, x *graph.Value, scale, zp *graph.Tensor, bits int) error {
	data, err := x.Const.Float32s()
	if err != nil {
		return err
	}
	l, err := layoutOf(fq, x.Const, scale)
	if err != nil {
		return err
	}
	s, _ := scale.Float32s()
	z, err := zp.Int64s()
	if err != nil {
		return err
	}
	lo, _ := zp.DType.IntRange()
	qmin, qmax := bitRange(bits, lo < 0)
	out := make([]float32, len(data))
	for i, v := range data {
		k := l.index(i)
		out[i] = min(max(v, float32(qmin-z[k])*s[k]), float32(qmax-z[k])*s[k])
	}
	x.Const = graph.MustTensor(graph.Float, x.Const.Shape, out)
	return nil
}
