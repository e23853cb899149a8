package rewrite

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// UpgradeOpset returns a pass that moves the model's default-domain opset
// to at least target, rewriting the nodes whose operators changed meaning
// in between (attributes that became inputs, Softmax's axis semantics,
// Upsample replaced by Resize, ...). A model already at or above target is
// left alone. An operator whose history between the two versions onnxq
// does not know is an error, listed with all the others: an upgrade is
// never guessed.
func UpgradeOpset(target int64) Pass {
	return Pass{Name: "upgrade-opset", Apply: func(m *graph.Model, log *Log) error {
		return upgradeOpset(m, target, log)
	}}
}

// opChange is one version of an operator at which its definition changed.
// adapt, if set, rewrites a node from the previous definition to this one;
// a nil adapt means the change does not affect existing nodes (new types,
// new optional attributes with compatible defaults).
type opChange struct {
	version int64
	adapt   func(u *upgrader, n *graph.Node) error
}

// opHistory lists, per ONNX operator, the versions at which it changed
// after opset 1 (from the ONNX changelog), with the adapter each change
// needs. Operators not listed here cannot be upgraded.
var opHistory = map[string][]opChange{
	"Abs": {{6, dropAttrs("consumed_inputs")}, {13, nil}}, "Neg": {{6, dropAttrs("consumed_inputs")}, {13, nil}},
	"Relu":    {{6, dropAttrs("consumed_inputs")}, {13, nil}, {14, nil}},
	"Sigmoid": {{6, dropAttrs("consumed_inputs")}, {13, nil}}, "Tanh": {{6, dropAttrs("consumed_inputs")}, {13, nil}},
	"Exp": {{6, dropAttrs("consumed_inputs")}, {13, nil}}, "Log": {{6, dropAttrs("consumed_inputs")}, {13, nil}},
	"Sqrt": {{6, dropAttrs("consumed_inputs")}, {13, nil}}, "Reciprocal": {{6, dropAttrs("consumed_inputs")}, {13, nil}},
	"Floor": {{6, dropAttrs("consumed_inputs")}, {13, nil}}, "Ceil": {{6, dropAttrs("consumed_inputs")}, {13, nil}},
	"Add":         {{6, dropAttrs("consumed_inputs")}, {7, noLegacyBroadcast}, {13, nil}, {14, nil}},
	"Sub":         {{6, dropAttrs("consumed_inputs")}, {7, noLegacyBroadcast}, {13, nil}, {14, nil}},
	"Mul":         {{6, dropAttrs("consumed_inputs")}, {7, noLegacyBroadcast}, {13, nil}, {14, nil}},
	"Div":         {{6, dropAttrs("consumed_inputs")}, {7, noLegacyBroadcast}, {13, nil}, {14, nil}},
	"Pow":         {{7, noLegacyBroadcast}, {12, nil}, {13, nil}, {15, nil}},
	"PRelu":       {{6, dropAttrs("consumed_inputs")}, {7, nil}, {9, nil}, {16, nil}},
	"LeakyRelu":   {{6, dropAttrs("consumed_inputs")}, {16, nil}},
	"Elu":         {{6, dropAttrs("consumed_inputs")}, {22, nil}},
	"Selu":        {{6, dropAttrs("consumed_inputs")}, {22, nil}},
	"HardSigmoid": {{6, dropAttrs("consumed_inputs")}, {22, nil}},
	"HardSwish":   {{22, nil}}, "Softplus": {{22, nil}}, "Softsign": {{22, nil}},
	"Clip": {{6, dropAttrs("consumed_inputs")}, {11, clipAttrsToInputs}, {12, nil}, {13, nil}},
	"Erf":  {{13, nil}}, "Sign": {{13, nil}}, "Round": {{22, nil}},
	"Max":   {{6, dropAttrs("consumed_inputs")}, {8, nil}, {12, nil}, {13, nil}},
	"Min":   {{6, dropAttrs("consumed_inputs")}, {8, nil}, {12, nil}, {13, nil}},
	"Sum":   {{6, dropAttrs("consumed_inputs")}, {8, nil}, {13, nil}},
	"Mean":  {{6, dropAttrs("consumed_inputs")}, {8, nil}, {13, nil}},
	"Equal": {{7, noLegacyBroadcast}, {11, nil}, {13, nil}, {19, nil}},
	"Less":  {{7, noLegacyBroadcast}, {9, nil}, {13, nil}}, "Greater": {{7, noLegacyBroadcast}, {9, nil}, {13, nil}},
	"Not": {}, "And": {{7, noLegacyBroadcast}}, "Or": {{7, noLegacyBroadcast}},
	"Where": {{16, nil}},
	"Conv":  {{11, nil}, {22, nil}}, "ConvTranspose": {{11, nil}, {22, nil}},
	"MaxPool":           {{8, nil}, {10, nil}, {11, nil}, {12, nil}, {22, nil}},
	"AveragePool":       {{7, nil}, {10, nil}, {11, nil}, {19, nil}, {22, nil}},
	"GlobalAveragePool": {{22, nil}}, "GlobalMaxPool": {{22, nil}},
	"BatchNormalization":    {{6, dropAttrs("consumed_inputs")}, {7, dropAttrs("is_test")}, {9, batchNormSpatial}, {14, nil}, {15, nil}},
	"InstanceNormalization": {{6, dropAttrs("consumed_inputs")}, {22, nil}},
	"LRN":                   {{13, nil}},
	"Dropout":               {{6, dropAttrs("consumed_inputs")}, {7, dropAttrs("is_test")}, {10, nil}, {12, dropAttrs("ratio")}, {13, nil}, {22, nil}},
	"Gemm":                  {{6, nil}, {7, dropAttrs("broadcast")}, {9, nil}, {11, nil}, {13, nil}},
	"MatMul":                {{9, nil}, {13, nil}},
	"Reshape":               {{5, reshapeAttrToInput}, {13, nil}, {14, nil}, {19, nil}, {21, nil}},
	"Flatten":               {{9, nil}, {11, nil}, {13, nil}, {21, nil}},
	"Transpose":             {{13, nil}, {21, nil}},
	"Concat":                {{4, nil}, {11, nil}, {13, nil}},
	"Identity":              {{13, nil}, {14, nil}, {16, nil}, {19, nil}, {21, nil}},
	"Shape":                 {{13, nil}, {15, nil}, {19, nil}, {21, nil}},
	"Size":                  {{13, nil}, {19, nil}, {21, nil}},
	"Gather":                {{11, nil}, {13, nil}},
	"Cast":                  {{6, nil}, {9, nil}, {13, nil}, {19, nil}, {21, nil}},
	"Constant":              {{9, nil}, {11, nil}, {12, nil}, {13, nil}, {19, nil}, {21, nil}},
	"ConstantOfShape":       {{20, nil}, {21, nil}},
	"Expand":                {{13, nil}},
	"Tile":                  {{6, nil}, {13, nil}},
	"Range":                 {},
	"Slice":                 {{10, sliceAttrsToInputs}, {11, nil}, {13, nil}},
	"Pad":                   {{2, nil}, {11, padAttrsToInputs}, {13, nil}, {18, nil}, {19, nil}, {21, nil}},
	"Split":                 {{2, nil}, {11, nil}, {13, splitAttrToInput}, {18, nil}},
	"Squeeze":               {{11, nil}, {13, axesAttrToInput}, {21, nil}},
	"Unsqueeze":             {{11, nil}, {13, axesAttrToInput}, {21, nil}},
	"ReduceSum":             {{11, nil}, {13, axesAttrToInput}},
	"ReduceMean":            {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ReduceMax":             {{11, nil}, {12, nil}, {13, nil}, {18, axesAttrToInput}, {20, nil}},
	"ReduceMin":             {{11, nil}, {12, nil}, {13, nil}, {18, axesAttrToInput}, {20, nil}},
	"ReduceProd":            {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ReduceL2":              {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ReduceL1":              {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ReduceSumSquare":       {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ReduceLogSumExp":       {{11, nil}, {13, nil}, {18, axesAttrToInput}},
	"ArgMax":                {{11, nil}, {12, nil}, {13, nil}}, "ArgMin": {{11, nil}, {12, nil}, {13, nil}},
	"Softmax":      {{11, nil}, {13, softmaxAxis}},
	"LogSoftmax":   {{11, nil}, {13, softmaxAxis}},
	"Hardmax":      {{11, nil}, {13, softmaxAxis}},
	"TopK":         {{10, topKAttrToInput}, {11, nil}},
	"Upsample":     {{7, nil}, {9, nil}, {10, upsampleToResize}},
	"Resize":       {{11, resize10to11}, {13, nil}, {18, nil}, {19, nil}},
	"DepthToSpace": {{11, nil}, {13, nil}}, "SpaceToDepth": {{13, nil}},
	"If":             {{11, nil}, {13, nil}, {16, nil}, {19, nil}, {21, nil}},
	"Loop":           {{11, nil}, {13, nil}, {16, nil}, {19, nil}, {21, nil}},
	"QuantizeLinear": {{13, nil}, {19, nil}, {21, nil}}, "DequantizeLinear": {{13, nil}, {19, nil}, {21, nil}},
	"QLinearConv": {}, "QLinearMatMul": {{21, nil}},
	"MatMulInteger": {}, "ConvInteger": {},
	"NonZero": {{13, nil}}, "Einsum": {}, "CumSum": {{14, nil}},
	"GreaterOrEqual": {{16, nil}}, "LessOrEqual": {{16, nil}},
	"LayerNormalization": {}, "Gelu": {}, "Trilu": {}, "Mod": {{13, nil}},
	"Sin": {}, "Cos": {}, "Atan": {}, "Asin": {}, "Acos": {}, "Tan": {},
	"IsNaN": {{13, nil}, {20, nil}}, "IsInf": {{20, nil}},
	"OneHot": {{11, nil}}, "ScatterND": {{13, nil}, {16, nil}, {18, nil}}, "GatherND": {{12, nil}, {13, nil}},
	"GatherElements": {{13, nil}}, "ScatterElements": {{13, nil}, {16, nil}, {18, nil}},
	"NonMaxSuppression": {{11, nil}}, "Xor": {{7, noLegacyBroadcast}},
	"BitShift": {}, "Det": {}, "MeanVarianceNormalization": {{13, nil}},
}

type upgrader struct {
	m     *graph.Model
	g     *graph.Graph
	nm    *graph.Namer
	from  int64
	added []*graph.Node
}

func upgradeOpset(m *graph.Model, target int64, log *Log) error {
	from := m.Opset("")
	if from == 0 || from >= target {
		return nil
	}
	if target < 13 {
		return fmt.Errorf("upgrade target %d: only targets of 13 or more are supported", target)
	}
	// Check everything first: list every operator that cannot be upgraded.
	var problems []string
	seen := map[string]bool{}
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			return true
		}
		if _, ok := opHistory[n.OpType]; !ok && !seen[n.OpType] {
			seen[n.OpType] = true
			problems = append(problems, n.OpType)
		}
		return true
	})
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("cannot upgrade opset %d to %d: no upgrade rules for %s", from, target, strings.Join(problems, ", "))
	}
	nm := graph.NewNamer(m.Graph)
	counts := map[string]int{}
	for _, g := range m.Graph.Graphs() {
		u := &upgrader{m: m, g: g, nm: nm, from: from}
		for _, n := range append([]*graph.Node{}, g.Nodes...) {
			if n.Domain != "" && n.Domain != "ai.onnx" {
				continue
			}
			for _, ch := range opHistory[n.OpType] {
				if ch.version <= from || ch.version > target || ch.adapt == nil {
					continue
				}
				if err := ch.adapt(u, n); err != nil {
					return fmt.Errorf("node %s: upgrading to %s-%d: %w", n.Label(), n.OpType, ch.version, err)
				}
				counts[fmt.Sprintf("%s-%d", n.OpType, ch.version)]++
			}
		}
		if err := g.TopoSort(); err != nil {
			return err
		}
	}
	m.SetOpset("", target)
	if m.IRVersion < irForOpset(target) {
		m.IRVersion = irForOpset(target)
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	msg := fmt.Sprintf("default opset %d -> %d", from, target)
	if len(parts) > 0 {
		msg += "; nodes adapted: " + strings.Join(parts, ", ")
	}
	log.Changef("%s", msg)
	return nil
}

// irForOpset returns the lowest IR version that can carry an opset.
func irForOpset(opset int64) int64 {
	switch {
	case opset <= 8:
		return 4
	case opset <= 10:
		return 5
	case opset <= 11:
		return 6
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	}
	return 10
}

// int64Input adds an int64 initializer and returns its value.
func (u *upgrader) int64Input(base string, vals []int64) *graph.Value {
	return u.g.AddInitializer(u.nm, base, graph.MustTensor(graph.Int64, []int64{int64(len(vals))}, append([]int64{}, vals...)))
}

func dropAttrs(names ...string) func(*upgrader, *graph.Node) error {
	return func(_ *upgrader, n *graph.Node) error {
		for _, a := range names {
			n.RemoveAttr(a)
		}
		return nil
	}
}

// noLegacyBroadcast accepts binary ops whose pre-7 broadcast attribute is
// absent or describes numpy-compatible (suffix) broadcasting.
func noLegacyBroadcast(_ *upgrader, n *graph.Node) error {
	n.RemoveAttr("consumed_inputs")
	if n.AttrInt("broadcast", 0) == 0 {
		n.RemoveAttr("broadcast")
		n.RemoveAttr("axis")
		return nil
	}
	b := n.Input(1)
	a := n.Input(0)
	bd, okb := b.Shape()
	ad, oka := a.Shape()
	if okb && oka {
		axis := n.AttrInt("axis", int64(len(ad)-len(bd)))
		if axis < 0 {
			axis += int64(len(ad))
		}
		if axis == int64(len(ad)-len(bd)) {
			n.RemoveAttr("broadcast")
			n.RemoveAttr("axis")
			return nil
		}
	}
	return fmt.Errorf("legacy broadcast with axis is not numpy broadcasting; cannot upgrade")
}

func clipAttrsToInputs(u *upgrader, n *graph.Node) error {
	n.RemoveAttr("consumed_inputs")
	lo, hasLo := n.Attr("min"), n.HasAttr("min")
	hi, hasHi := n.Attr("max"), n.HasAttr("max")
	if !hasLo && !hasHi {
		return nil
	}
	x := n.Inputs[0]
	var loV, hiV *graph.Value
	if hasLo {
		loV = u.g.AddInitializer(u.nm, x.Name+"_clip_min", graph.Scalar(lo.GetF()))
	}
	if hasHi {
		hiV = u.g.AddInitializer(u.nm, x.Name+"_clip_max", graph.Scalar(hi.GetF()))
	}
	n.RemoveAttr("min")
	n.RemoveAttr("max")
	n.Inputs = []*graph.Value{x, loV, hiV}
	if hiV == nil {
		n.Inputs = n.Inputs[:2]
	}
	return nil
}

func batchNormSpatial(_ *upgrader, n *graph.Node) error {
	if n.AttrInt("spatial", 1) != 1 {
		return fmt.Errorf("spatial=0 has no equivalent in later opsets")
	}
	n.RemoveAttr("spatial")
	return nil
}

func reshapeAttrToInput(u *upgrader, n *graph.Node) error {
	if !n.HasAttr("shape") {
		return nil
	}
	shape := n.AttrInts("shape", nil)
	n.RemoveAttr("shape")
	n.Inputs = []*graph.Value{n.Inputs[0], u.int64Input(n.Inputs[0].Name+"_shape", shape)}
	return nil
}

func sliceAttrsToInputs(u *upgrader, n *graph.Node) error {
	starts := n.AttrInts("starts", nil)
	ends := n.AttrInts("ends", nil)
	axes := n.AttrInts("axes", nil)
	base := n.Inputs[0].Name
	in := []*graph.Value{n.Inputs[0], u.int64Input(base+"_starts", starts), u.int64Input(base+"_ends", ends)}
	if axes != nil {
		in = append(in, u.int64Input(base+"_axes", axes))
	}
	for _, a := range []string{"starts", "ends", "axes"} {
		n.RemoveAttr(a)
	}
	n.Inputs = in
	return nil
}

func padAttrsToInputs(u *upgrader, n *graph.Node) error {
	pads := n.AttrInts("pads", n.AttrInts("paddings", nil))
	value := n.AttrFloat("value", 0)
	base := n.Inputs[0].Name
	in := []*graph.Value{n.Inputs[0], u.int64Input(base+"_pads", pads)}
	if value != 0 {
		in = append(in, u.g.AddInitializer(u.nm, base+"_pad_value", graph.Scalar(value)))
	}
	for _, a := range []string{"pads", "paddings", "value"} {
		n.RemoveAttr(a)
	}
	n.Inputs = in
	return nil
}

func splitAttrToInput(u *upgrader, n *graph.Node) error {
	if !n.HasAttr("split") {
		return nil
	}
	split := n.AttrInts("split", nil)
	n.RemoveAttr("split")
	n.Inputs = []*graph.Value{n.Inputs[0], u.int64Input(n.Inputs[0].Name+"_split", split)}
	return nil
}

func axesAttrToInput(u *upgrader, n *graph.Node) error {
	if !n.HasAttr("axes") {
		return nil
	}
	axes := n.AttrInts("axes", nil)
	n.RemoveAttr("axes")
	n.Inputs = []*graph.Value{n.Inputs[0], u.int64Input(n.Inputs[0].Name+"_axes", axes)}
	return nil
}

func topKAttrToInput(u *upgrader, n *graph.Node) error {
	k := n.AttrInt("k", 0)
	n.RemoveAttr("k")
	n.Inputs = []*graph.Value{n.Inputs[0], u.int64Input(n.Inputs[0].Name+"_k", []int64{k})}
	return nil
}

// softmaxAxis rewrites a Softmax-family node of opset < 13, which flattens
// its input to 2-D at axis and normalizes each row, to the opset-13 form,
// which normalizes along one axis. When axis is the last dimension (the
// common case) the two agree; otherwise the node is wrapped in
// Flatten -> op(axis=1) -> Reshape(original shape).
func softmaxAxis(u *upgrader, n *graph.Node) error {
	x := n.Inputs[0]
	axis := n.AttrInt("axis", 1)
	dims, ok := x.Shape()
	if ok && axis < 0 {
		axis += int64(len(dims))
	}
	if ok && axis == int64(len(dims)-1) {
		n.SetAttr("axis", int64(-1))
		return nil
	}
	// General case: y = Reshape(op(Flatten(x, axis), axis=1), Shape(x)).
	flat := u.g.NewNode(u.nm, "Flatten", "", []*graph.Value{x}, []string{x.Name + "_flat"}, map[string]any{"axis": axis})
	shape := u.g.NewNode(u.nm, "Shape", "", []*graph.Value{x}, []string{x.Name + "_shape"}, nil)
	out := n.Outputs[0]
	mid := &graph.Value{Name: u.nm.Name(out.Name + "_2d"), Producer: n, Graph: u.g}
	n.Inputs = []*graph.Value{flat.Outputs[0]}
	n.Outputs = []*graph.Value{mid}
	n.SetAttr("axis", int64(1))
	reshape := u.g.NewNode(u.nm, "Reshape", "", []*graph.Value{mid, shape.Outputs[0]}, []string{out.Name}, nil)
	// Keep the original output value (and its name) as the Reshape's output.
	u.nm.Name(out.Name)
	reshape.Outputs[0] = out
	out.Producer = reshape
	out.Index = 0
	return nil
}

// upsampleToResize replaces Upsample (opsets 7-9) by the equivalent Resize
// of opset 11+: asymmetric coordinates, nearest rounding down.
func upsampleToResize(u *upgrader, n *graph.Node) error {
	mode := n.AttrString("mode", "nearest")
	var scales *graph.Value
	if n.HasAttr("scales") { // Upsample-7
		scales = u.g.AddInitializer(u.nm, n.Inputs[0].Name+"_scales", graph.MustTensor(graph.Float, []int64{int64(len(n.AttrFloats("scales", nil)))}, append([]float32{}, n.AttrFloats("scales", nil)...)))
	} else {
		scales = n.Input(1)
	}
	n.OpType = "Resize"
	n.RemoveAttr("scales")
	n.RemoveAttr("mode")
	n.SetAttr("mode", mode)
	n.SetAttr("coordinate_transformation_mode", "asymmetric")
	if mode == "nearest" {
		n.SetAttr("nearest_mode", "floor")
	}
	n.Inputs = []*graph.Value{n.Inputs[0], nil, scales}
	return nil
}

// resize10to11 adds the roi input that Resize-11 expects and spells out
// Resize-10's coordinate semantics (asymmetric; nearest rounds down).
func resize10to11(u *upgrader, n *graph.Node) error {
	if n.OpType != "Resize" || len(n.Inputs) != 2 {
		return nil // already upgraded from Upsample
	}
	mode := n.AttrString("mode", "nearest")
	n.Inputs = []*graph.Value{n.Inputs[0], nil, n.Inputs[1]}
	n.SetAttr("coordinate_transformation_mode", "asymmetric")
	if mode == "nearest" {
		n.SetAttr("nearest_mode", "floor")
	}
	return nil
}
