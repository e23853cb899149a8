package rewrite

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// Range is the real interval an activation was calibrated to.
type Range struct{ Min, Max float64 }

// WeightForm is how Materialize stores quantized weights.
type WeightForm int

const (
	// IntegerWeights stores weights as integer initializers feeding
	// DequantizeLinear: the deployable form.
	IntegerWeights WeightForm = iota
	// FloatWeights keeps float weights behind QuantizeLinear ->
	// DequantizeLinear: the trainable form that QAT starts from.
	FloatWeights
)

// MaterializeOptions are the inputs of Materialize besides the plan.
type MaterializeOptions struct {
	// Ranges gives the calibrated range of every activation group
	// representative (Plan.Activations()).
	Ranges map[*graph.Value]Range
	// WeightParams optionally overrides the computed params of a weight
	// (one entry per channel, or one for per-tensor), e.g. from an MSE
	// search or from training.
	WeightParams map[*graph.Value][]quant.Params
	Form         WeightForm
}

// TensorReport describes one quantized tensor in the report.
type TensorReport struct {
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Type       string    `json:"type"`
	Axis       *int      `json:"axis,omitempty"`
	BlockSize  int       `json:"block_size,omitempty"`
	Min        *float64  `json:"min,omitempty"`
	Max        *float64  `json:"max,omitempty"`
	Scale      []float32 `json:"scale"`
	ZeroPoint  []int64   `json:"zero_point"`
	SharedWith string    `json:"shared_with,omitempty"`
}

// BiasFix records a bias whose int32 encoding would have overflowed and
// how it was fixed.
type BiasFix struct {
	Bias     string `json:"bias"`
	Channels []int  `json:"channels"`
	Action   string `json:"action"`
}

// Result is what Materialize did.
type Result struct {
	Tensors   []TensorReport `json:"tensors"`
	BiasFixes []BiasFix      `json:"bias_fixes,omitempty"`
	Opset     int64          `json:"opset"`
}

// Materialize inserts QuantizeLinear/DequantizeLinear for every tensor of
// the plan, computing scales and zero points from the calibrated ranges
// (activations) and from the data (weights, biases). It is the only pass
// that creates Q/DQ nodes. The model must already import an opset that
// can express the plan (see RequiredOpset).
func Materialize(p *Plan, mo MaterializeOptions) (*Result, error) {
	m := p.Model
	need := RequiredOpset(p)
	if have := m.Opset(""); have < need {
		return nil, fmt.Errorf("the plan needs opset %d, the model imports %d: run UpgradeOpset(%d) first", need, have, need)
	}
	nm := graph.NewNamer(m.Graph)
	res := &Result{Opset: m.Opset("")}
	// Activation params per group.
	actParams := map[*graph.Value]quant.Params{}
	for _, rep := range p.Activations() {
		r, ok := mo.Ranges[rep]
		if !ok {
			return nil, fmt.Errorf("no calibrated range for tensor %q", rep.Name)
		}
		if math.IsNaN(r.Min) || math.IsNaN(r.Max) || math.IsInf(r.Min, 0) || math.IsInf(r.Max, 0) {
			return nil, fmt.Errorf("tensor %q: calibrated range [%g, %g] is not finite", rep.Name, r.Min, r.Max)
		}
		s := p.Specs[rep]
		actParams[rep] = quant.ParamsFor(r.Min, r.Max, s.Type, s.Symmetric)
	}
	// Weight params (possibly raised later by the bias guard).
	wParams := map[*graph.Value][]quant.Params{}
	for _, v := range p.Order {
		s := p.Specs[v]
		if s.Role != RoleWeight {
			continue
		}
		if ov, ok := mo.WeightParams[v]; ok {
			wParams[v] = ov
			continue
		}
		ps, err := WeightParamsMinMax(v.Const, s)
		if err != nil {
			return nil, fmt.Errorf("weight %q: %w", v.Name, err)
		}
		wParams[v] = ps
	}
	// Bias guard: raise weight scales where the int32 bias would overflow.
	for _, v := range p.Order {
		s := p.Specs[v]
		if s.Role != RoleBias {
			continue
		}
		fix, err := guardBias(v, s, actParams[p.Specs[s.BiasInput].Group], wParams[s.BiasWeight], p.Specs[s.BiasWeight].Type)
		if err != nil {
			return nil, err
		}
		if fix != nil {
			res.BiasFixes = append(res.BiasFixes, *fix)
		}
	}
	// Scale and zero-point initializers, one set per group / weight.
	type qvals struct{ scale, zp *graph.Value }
	shared := map[*graph.Value]qvals{}
	for _, v := range p.Order {
		s := p.Specs[v]
		g := v.Graph
		var params []quant.Params
		var zpType graph.DType
		switch s.Role {
		case RoleActivation:
			params = []quant.Params{actParams[s.Group]}
			zpType = s.Type.DType
		case RoleWeight:
			params = wParams[v]
			zpType = s.Type.DType
		case RoleBias:
			in := actParams[p.Specs[s.BiasInput].Group]
			for _, wp := range wParams[s.BiasWeight] {
				params = append(params, quant.Params{Scale: in.Scale * wp.Scale})
			}
			zpType = graph.Int32
		}
		res.Tensors = append(res.Tensors, tensorReport(v, s, params, mo.Ranges))
		key := v
		if s.Role == RoleActivation {
			key = s.Group
		}
		qv, ok := shared[key]
		if !ok || qv.scale.Graph != g && !encloses(qv.scale.Graph, g) {
			qv = qvals{
				scale: g.AddInitializer(nm, key.Name+"_scale", scaleTensor(params, s)),
				zp:    g.AddInitializer(nm, key.Name+"_zero_point", zeroPointTensor(params, s, zpType)),
			}
			shared[key] = qv
		}
		attrs := map[string]any{}
		if s.Axis >= 0 && (len(params) > 1 || s.BlockSize > 0) {
			attrs["axis"] = int64(s.Axis)
		}
		if s.BlockSize > 0 {
			attrs["block_size"] = int64(s.BlockSize)
		}
		var dqIn *graph.Value
		switch {
		case s.Role == RoleBias || s.Role == RoleWeight && mo.Form == IntegerWeights:
			qt, err := quantizeConst(v.Const, params, s, zpType)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", s.Role, v.Name, err)
			}
			dqIn = g.AddInitializer(nm, v.Name+"_quantized", qt)
		default:
			q := g.NewNode(nm, "QuantizeLinear", "", []*graph.Value{v, qv.scale, qv.zp}, []string{v.Name + "_quantized"}, attrs)
			graph.SetType(q.Outputs[0], zpType)
			dqIn = q.Outputs[0]
		}
		dq := g.NewNode(nm, "DequantizeLinear", "", []*graph.Value{dqIn, qv.scale, qv.zp}, []string{v.Name + "_dequantized"}, attrs)
		out := dq.Outputs[0]
		if dims, ok := v.Shape(); ok {
			graph.SetType(out, graph.Float, dims...)
		} else {
			graph.SetType(out, graph.Float)
			out.Type.GetTensorType().Shape = nil
		}
		for _, r := range s.Readers {
			for i, in := range r.Inputs {
				if in == v {
					r.Inputs[i] = out
				}
			}
		}
	}
	for _, g := range m.Graph.Graphs() {
		if err := g.TopoSort(); err != nil {
			return nil, err
		}
	}
	return res, RemoveDeadNodes.Apply(m, &Log{})
}

func encloses(outer, g *graph.Graph) bool {
	for ; g != nil; g = g.Parent {
		if g == outer {
			return true
		}
	}
	return false
}

// RequiredOpset returns the lowest default-domain opset that expresses the
// plan: 13 for per-axis params, 21 for 4-bit or 16-bit types and blocks,
// 10 otherwise.
func RequiredOpset(p *Plan) int64 {
	need := int64(10)
	for _, s := range p.Specs {
		switch s.Type.DType {
		case graph.Int4, graph.Uint4, graph.Int16, graph.Uint16:
			need = max(need, 21)
		}
		if s.BlockSize > 0 {
			need = max(need, 21)
		}
		if s.Axis >= 0 {
			need = max(need, 13)
		}
	}
	return need
}

// WeightParamsMinMax returns symmetric params for a weight from its
// absolute maximum, per channel along s.Axis (one entry per channel, or
// per block when s.BlockSize > 0), or one entry per tensor.
func WeightParamsMinMax(w *graph.Tensor, s *Spec) ([]quant.Params, error) {
	data, err := w.Float32s()
	if err != nil {
		return nil, err
	}
	absmax := channelAbsMax(data, w.Shape, s.Axis, s.BlockSize)
	out := make([]quant.Params, len(absmax))
	for i, a := range absmax {
		out[i] = quant.ParamsFor(-a, a, s.Type, true)
	}
	return out, nil
}

// channelAbsMax returns max |x| per channel of axis (per block of
// blockSize along axis when blockSize > 0: then the result is laid out as
// the weight's shape with dim axis divided into blocks), or one value
// when axis < 0.
func channelAbsMax(data []float32, shape []int64, axis, blockSize int) []float64 {
	if axis < 0 {
		m := 0.0
		for _, x := range data {
			m = math.Max(m, math.Abs(float64(x)))
		}
		return []float64{m}
	}
	outer, ch, inner := split3(shape, axis)
	if blockSize > 0 {
		nb := (ch + blockSize - 1) / blockSize
		res := make([]float64, outer*nb*inner)
		for o := 0; o < outer; o++ {
			for c := 0; c < ch; c++ {
				for i := 0; i < inner; i++ {
					k := (o*nb+c/blockSize)*inner + i
					res[k] = math.Max(res[k], math.Abs(float64(data[(o*ch+c)*inner+i])))
				}
			}
		}
		return res
	}
	res := make([]float64, ch)
	for o := 0; o < outer; o++ {
		for c := 0; c < ch; c++ {
			base := (o*ch + c) * inner
			for i := 0; i < inner; i++ {
				res[c] = math.Max(res[c], math.Abs(float64(data[base+i])))
			}
		}
	}
	return res
}

func split3(shape []int64, axis int) (outer, ch, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= int(d)
		case i == axis:
			ch = int(d)
		default:
			inner *= int(d)
		}
	}
	return
}

// paramIndex returns which params entry element i of a tensor uses.
func paramIndex(i int, shape []int64, s *Spec, nparams int) int {
	if nparams == 1 || s.Axis < 0 {
		return 0
	}
	outer, ch, inner := split3(shape, s.Axis)
	_ = outer
	c := (i / inner) % ch
	if s.BlockSize > 0 {
		nb := (ch + s.BlockSize - 1) / s.BlockSize
		o := i / (inner * ch)
		return (o*nb+c/s.BlockSize)*inner + i%inner
	}
	return c
}

func scaleTensor(params []quant.Params, s *Spec) *graph.Tensor {
	sc := make([]float32, len(params))
	for i, p := range params {
		sc[i] = p.Scale
	}
	return graph.MustTensor(graph.Float, paramShape(params, s), sc)
}

// paramShape is nil (a scalar) for per-tensor params, [C] per channel, and
// the weight's shape with the axis divided into blocks for blocked params.
func paramShape(params []quant.Params, s *Spec) []int64 {
	if s.BlockSize > 0 {
		shape := append([]int64{}, s.Value.Const.Shape...)
		shape[s.Axis] = (shape[s.Axis] + int64(s.BlockSize) - 1) / int64(s.BlockSize)
		return shape
	}
	if len(params) == 1 && s.Axis < 0 {
		return nil
	}
	return []int64{int64(len(params))}
}

func zeroPointTensor(params []quant.Params, s *Spec, dt graph.DType) *graph.Tensor {
	zps := make([]int64, len(params))
	for i, p := range params {
		zps[i] = p.ZeroPoint
	}
	t, err := graph.IntTensor(dt, paramShape(params, s), zps)
	if err != nil {
		panic(fmt.Sprintf("rewrite: zero point: %v", err)) // ParamsFor clamps to the type
	}
	return t
}

// quantizeConst quantizes a constant tensor with its params.
func quantizeConst(t *graph.Tensor, params []quant.Params, s *Spec, dt graph.DType) (*graph.Tensor, error) {
	data, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	q := make([]int64, len(data))
	for i, x := range data {
		p := params[paramIndex(i, t.Shape, s, len(params))]
		q[i] = quant.Quantize(x, p.Scale, p.ZeroPoint, dt)
	}
	return graph.IntTensor(dt, t.Shape, q)
}

// guardBias checks that every bias element fits int32 at scale
// input_scale x weight_scale. Where it does not (tiny weight scales, large
// biases), it raises that channel's weight scale just enough, which costs
// that channel's weights some precision, and reports it.
func guardBias(b *graph.Value, s *Spec, in quant.Params, wp []quant.Params, wt quant.Type) (*BiasFix, error) {
	data, err := b.Const.Float32s()
	if err != nil {
		return nil, err
	}
	if len(wp) != 1 && len(wp) != len(data) {
		return nil, fmt.Errorf("bias %q has %d values but its weight has %d channel scales", b.Name, len(data), len(wp))
	}
	const limit = math.MaxInt32 - 1
	var bad []int
	for c, x := range data {
		p := wp[0]
		if len(wp) > 1 {
			p = wp[c]
		}
		q := math.Abs(float64(x)) / (float64(in.Scale) * float64(p.Scale))
		if q <= limit {
			continue
		}
		bad = append(bad, c)
		need := float32(math.Abs(float64(x)) / (float64(in.Scale) * limit) * 1.0001)
		if len(wp) > 1 {
			wp[c].Scale = need
		} else {
			wp[0].Scale = need
		}
	}
	if len(bad) == 0 {
		return nil, nil
	}
	return &BiasFix{Bias: b.Name, Channels: bad, Action: fmt.Sprintf("raised the %s weight scale of %d channel(s) so the int32 bias fits", s.BiasWeight.Name, len(bad))}, nil
}

func tensorReport(v *graph.Value, s *Spec, params []quant.Params, ranges map[*graph.Value]Range) TensorReport {
	tr := TensorReport{Name: v.Name, Role: s.Role.String(), Type: s.Type.DType.String(), BlockSize: s.BlockSize}
	if s.Axis >= 0 && s.Role != RoleActivation {
		a := s.Axis
		tr.Axis = &a
	}
	for _, p := range params {
		tr.Scale = append(tr.Scale, p.Scale)
		tr.ZeroPoint = append(tr.ZeroPoint, p.ZeroPoint)
	}
	if s.Role == RoleActivation {
		if r, ok := ranges[s.Group]; ok {
			lo, hi := r.Min, r.Max
			tr.Min, tr.Max = &lo, &hi
		}
		if s.Group != v {
			tr.SharedWith = s.Group.Name
		}
	}
	return tr
}
