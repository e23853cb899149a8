package rewrite

import (
	"fmt"
	"sort"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// Options are the typed quantization settings of a run.
type Options struct {
	// Activations is the type of quantized activations (default UINT8,
	// which ONNX Runtime's CPU kernels fuse best with INT8 weights).
	Activations graph.DType
	// SymmetricActivations puts activation zero points at the middle of
	// the type (0 for signed types).
	SymmetricActivations bool
	// Weights is the type of quantized weights (default INT8). Weights are
	// always symmetric over a narrow range ([-127, 127], [-7, 7]).
	Weights graph.DType
	// PerChannel gives each output channel of a weight its own scale.
	PerChannel bool
	// BlockSize, when > 0, quantizes weights in blocks of that many
	// elements along the input-channel axis (opset 21).
	BlockSize int
	// QuantizeGraphOutputs also quantizes values that are graph outputs
	// (they stay float for readers; the graph output itself is never an
	// integer tensor).
	QuantizeGraphOutputs bool
	// ExcludeNodes and ExcludeOps keep the named nodes / op types in float.
	ExcludeNodes []string
	ExcludeOps   []string
	// Nodes overrides settings for single nodes by name.
	Nodes map[string]NodeOverride
	// Rules is the per-op rule table (default DefaultRules).
	Rules map[string]OpRule
	// Placement chooses between balanced (the default), speed and size;
	// see the Placement constants.
	Placement Placement
}

// Placement says what quantization placement optimizes.
type Placement string

const (
	// PlaceBalanced is PlaceSpeed, and chains of element-wise arithmetic
	// (the Add -> Clip -> Mul -> Mul of a decomposed HardSwish) run in
	// float between quantized convolutions: each requantization inside a
	// chain adds rounding noise of its own, and element-wise arithmetic
	// is a small part of a network's time.
	PlaceBalanced Placement = "balanced"
	// PlaceSpeed quantizes light operators only where that adds no Q/DQ
	// conversions: the most integer kernels for the fewest conversions.
	PlaceSpeed Placement = "speed"
	// PlaceSize quantizes every operator the rules allow.
	PlaceSize Placement = "size"
)

// NodeOverride changes the settings of one node. Zero fields inherit.
type NodeOverride struct {
	Exclude     bool        `json:"exclude,omitempty"`
	Activations graph.DType `json:"-"`
	Weights     graph.DType `json:"-"`
}

func (o *Options) defaults() {
	if o.Activations == graph.Undefined {
		o.Activations = graph.Uint8
	}
	if o.Weights == graph.Undefined {
		o.Weights = graph.Int8
	}
	if o.Rules == nil {
		o.Rules = DefaultRules
	}
	if o.Placement == "" {
		o.Placement = PlaceBalanced
	}
}

// Role is what a quantized tensor is to the model.
type Role int

const (
	RoleActivation Role = iota
	RoleWeight
	RoleBias
)

func (r Role) String() string {
	return [...]string{"activation", "weight", "bias"}[r]
}

// Spec says how one tensor is quantized.
type Spec struct {
	Value     *graph.Value
	Role      Role
	Type      quant.Type
	Symmetric bool
	Axis      int // per-channel axis; -1 per tensor
	BlockSize int
	// Group is the representative of the tensor's scale group: tensors in
	// one group share one scale and zero point (pass-through ops, Concat).
	Group *graph.Value
	// BiasInput and BiasWeight are the tensors whose scales multiply to
	// give a bias's scale.
	BiasInput, BiasWeight *graph.Value
	// Readers are the nodes that read the dequantized tensor; for
	// activations every reader, for weights and biases the quantized nodes.
	Readers []*graph.Node
}

// Decision records whether a node was quantized and why.
type Decision struct {
	Node      *graph.Node
	Quantized bool
	Reason    string
}

// Plan is the result of annotation: which tensors to quantize and how. It
// holds no numbers yet; Materialize turns it, with calibrated ranges, into
// Q/DQ nodes.
type Plan struct {
	Model     *graph.Model
	Options   Options
	Specs     map[*graph.Value]*Spec
	Order     []*graph.Value // the quantized tensors in a deterministic order
	Decisions []Decision
}

// Activations returns the representatives of the activation scale groups:
// the tensors whose ranges calibration must measure.
func (p *Plan) Activations() []*graph.Value {
	var out []*graph.Value
	seen := map[*graph.Value]bool{}
	for _, v := range p.Order {
		s := p.Specs[v]
		if s.Role != RoleActivation || seen[s.Group] {
			continue
		}
		seen[s.Group] = true
		out = append(out, s.Group)
	}
	return out
}

// GroupMembers returns every activation in the scale group of rep.
func (p *Plan) GroupMembers(rep *graph.Value) []*graph.Value {
	var out []*graph.Value
	for _, v := range p.Order {
		if s := p.Specs[v]; s.Role == RoleActivation && s.Group == rep {
			out = append(out, v)
		}
	}
	return out
}

// Annotate decides, with the rule table, which tensors of m to quantize.
// It does not change m. Element types must be known (run
// graph.InferShapes first): only float tensors are quantized.
func Annotate(m *graph.Model, opts Options) (*Plan, error) {
	opts.defaults()
	switch opts.Placement {
	case PlaceBalanced:
		return placeForSpeed(m, opts, elementwiseChains(m, opts.Rules))
	case PlaceSpeed:
		return placeForSpeed(m, opts, nil)
	case PlaceSize:
		return annotate(m, opts, nil)
	}
	return nil, fmt.Errorf("placement %q: want balanced, speed or size", opts.Placement)
}

// annotate is Annotate with some nodes kept in float for the given reasons.
func annotate(m *graph.Model, opts Options, skip map[*graph.Node]string) (*Plan, error) {
	p := &Plan{Model: m, Options: opts, Specs: map[*graph.Value]*Spec{}}
	exclNode := map[string]bool{}
	for _, n := range opts.ExcludeNodes {
		exclNode[n] = true
	}
	exclOp := map[string]bool{}
	for _, o := range opts.ExcludeOps {
		exclOp[o] = true
	}
	uses := m.Graph.UseMap()
	actType := func(n *graph.Node) quant.Type {
		dt := opts.Activations
		if ov, ok := opts.Nodes[n.Name]; ok && ov.Activations != graph.Undefined {
			dt = ov.Activations
		}
		return quant.Type{DType: dt}
	}
	wType := func(n *graph.Node) quant.Type {
		dt := opts.Weights
		if ov, ok := opts.Nodes[n.Name]; ok && ov.Weights != graph.Undefined {
			dt = ov.Weights
		}
		return quant.Type{DType: dt, Narrow: true}
	}
	// union-find over activation scale groups
	parent := map[*graph.Value]*graph.Value{}
	var find func(v *graph.Value) *graph.Value
	find = func(v *graph.Value) *graph.Value {
		for parent[v] != nil && parent[v] != v {
			v = parent[v]
		}
		return v
	}
	union := func(a, b *graph.Value) {
		ra, rb := find(a), find(b)
		if ra != rb {
			parent[rb] = ra
		}
	}
	markAct := func(v *graph.Value, n *graph.Node) bool {
		if v == nil || !isFloat(v) {
			return false
		}
		s := p.Specs[v]
		if s == nil {
			s = &Spec{Value: v, Role: RoleActivation, Type: actType(n), Symmetric: opts.SymmetricActivations, Axis: -1}
			p.Specs[v] = s
			parent[v] = v
		}
		return s.Role == RoleActivation
	}
	isQuantAct := func(v *graph.Value) bool {
		s := p.Specs[v]
		return s != nil && s.Role == RoleActivation
	}

	// absorbed maps an absorbable activation node to the compute node whose
	// output it takes over.
	absorbed := map[*graph.Node]bool{}
	skipOut := map[*graph.Value]bool{}

	quantizable := map[*graph.Node]bool{}
	var nodes []*graph.Node
	m.Graph.Walk(func(n *graph.Node) bool { nodes = append(nodes, n); return true })
	for _, n := range nodes {
		rule, ok := opts.Rules[n.OpType]
		switch {
		case n.Domain != "" && n.Domain != "ai.onnx":
			p.Decisions = append(p.Decisions, Decision{n, false, "operator domain " + n.Domain})
		case exclNode[n.Name] || opts.Nodes[n.Name].Exclude:
			p.Decisions = append(p.Decisions, Decision{n, false, "excluded by name"})
		case skip[n] != "":
			p.Decisions = append(p.Decisions, Decision{n, false, skip[n]})
		case exclOp[n.OpType]:
			p.Decisions = append(p.Decisions, Decision{n, false, "op type excluded"})
		case !ok:
			p.Decisions = append(p.Decisions, Decision{n, false, "no quantization rule for " + n.OpType})
		case !isFloat(n.Input(0)) && !rule.ShareAll:
			p.Decisions = append(p.Decisions, Decision{n, false, "input is not float (" + n.Input(0).ElemType().String() + ")"})
		default:
			quantizable[n] = true
			continue
		}
	}
	// Absorb Relu/Clip into a quantized compute producer.
	for _, n := range nodes {
		rule := opts.Rules[n.OpType]
		if !quantizable[n] || !rule.Absorbable {
			continue
		}
		x := n.Input(0)
		prod := x.Producer
		if prod == nil || !quantizable[prod] || !opts.Rules[prod.OpType].Output || opts.Rules[prod.OpType].Share || len(uses[x]) != 1 || x.IsGraphOutput() {
			continue
		}
		if n.OpType == "Clip" && !clipBoundsConst(n) {
			continue
		}
		absorbed[n] = true
		skipOut[x] = true
	}
	// Phase A: compute ops mark their inputs, weights and outputs.
	for _, n := range nodes {
		if !quantizable[n] {
			continue
		}
		rule := opts.Rules[n.OpType]
		if rule.Share || rule.ShareAll {
			continue
		}
		if !absorbed[n] {
			for i, role := range rule.Inputs {
				v := n.Input(i)
				if v == nil {
					continue
				}
				switch role {
				case Activation:
					markAct(v, n)
				case Weight:
					if v.IsConst() && v.Const.DType == graph.Float {
						if s := p.Specs[v]; s == nil {
							axis := -1
							if opts.PerChannel && rule.WeightAxis != nil {
								axis = rule.WeightAxis(n, v.Const.Rank())
							}
							p.Specs[v] = &Spec{Value: v, Role: RoleWeight, Type: wType(n), Symmetric: true, Axis: axis, BlockSize: blockFor(opts, v, axis)}
						}
					} else {
						markAct(v, n)
					}
				}
			}
		}
		out := n.Output(0)
		if rule.Output && out != nil && !skipOut[out] && (!out.IsGraphOutput() || opts.QuantizeGraphOutputs) {
			markAct(out, n)
		}
	}
	// Biases, once inputs and weights are known.
	for _, n := range nodes {
		if !quantizable[n] {
			continue
		}
		rule := opts.Rules[n.OpType]
		for i, role := range rule.Inputs {
			b := n.Input(i)
			if role != Bias || b == nil || !b.IsConst() || b.Const.DType != graph.Float || b.Const.Rank() != 1 {
				continue
			}
			x, w := n.Input(0), n.Input(1)
			ws := p.Specs[w]
			if !isQuantAct(x) || ws == nil || ws.Role != RoleWeight || ws.BlockSize > 0 {
				continue
			}
			if n.OpType == "Gemm" && (n.AttrFloat("alpha", 1) != 1 || n.AttrFloat("beta", 1) != 1) {
				continue
			}
			if _, dup := p.Specs[b]; dup {
				continue // a bias shared by two nodes keeps float: its scale would be ambiguous
			}
			p.Specs[b] = &Spec{Value: b, Role: RoleBias, Type: quant.Type{DType: graph.Int32}, Symmetric: true, Axis: biasAxis(ws), BiasInput: x, BiasWeight: w}
		}
	}
	// Phase B: pass-through ops and Concat join scale groups, to a fixpoint.
	for changed := true; changed; {
		changed = false
		for _, n := range nodes {
			if !quantizable[n] {
				continue
			}
			rule := opts.Rules[n.OpType]
			switch {
			case rule.Share:
				x := n.Input(0)
				if !isQuantAct(x) {
					continue
				}
				for _, out := range n.Outputs {
					if out == nil || (out.IsGraphOutput() && !opts.QuantizeGraphOutputs) {
						continue
					}
					if !isQuantAct(out) && markAct(out, n) {
						changed = true
					}
					if isQuantAct(out) && find(out) != find(x) {
						union(x, out)
						changed = true
					}
				}
			case rule.ShareAll:
				any := false
				for _, v := range n.Inputs {
					if isQuantAct(v) {
						any = true
					}
				}
				if !any {
					continue
				}
				out := n.Output(0)
				members := append([]*graph.Value{}, n.Inputs...)
				if out != nil && (!out.IsGraphOutput() || opts.QuantizeGraphOutputs) {
					members = append(members, out)
				}
				var first *graph.Value
				for _, v := range members {
					if v == nil {
						continue
					}
					if !isQuantAct(v) {
						if !markAct(v, n) {
							continue
						}
						changed = true
					}
					if first == nil {
						first = v
					} else if find(first) != find(v) {
						union(first, v)
						changed = true
					}
				}
			}
		}
	}
	// Readers and decisions.
	for _, n := range nodes {
		if !quantizable[n] {
			continue
		}
		reason := "quantized"
		if absorbed[n] {
			reason = "quantized with the preceding " + n.Input(0).Producer.OpType
		}
		touched := false
		for _, v := range append(append([]*graph.Value{}, n.Inputs...), n.Outputs...) {
			if v != nil && p.Specs[v] != nil {
				touched = true
			}
		}
		if !touched && !absorbed[n] {
			p.Decisions = append(p.Decisions, Decision{n, false, "no quantized neighbour to share a scale with"})
			continue
		}
		p.Decisions = append(p.Decisions, Decision{n, true, reason})
	}
	quantNode := map[*graph.Node]bool{}
	for _, d := range p.Decisions {
		if d.Quantized {
			quantNode[d.Node] = true
		}
	}
	for v, s := range p.Specs {
		for _, r := range uses[v] {
			if s.Role == RoleActivation || quantNode[r] {
				s.Readers = append(s.Readers, r)
			}
		}
		if s.Role == RoleActivation {
			s.Group = find(v)
		}
	}
	// Weights and biases with no quantized reader are dropped.
	for v, s := range p.Specs {
		if s.Role != RoleActivation && len(s.Readers) == 0 {
			delete(p.Specs, v)
		}
	}
	p.Order = orderValues(m, p.Specs)
	pos := make(map[*graph.Node]int, len(nodes))
	for i, n := range nodes {
		pos[n] = i
	}
	sort.SliceStable(p.Decisions, func(i, j int) bool { return pos[p.Decisions[i].Node] < pos[p.Decisions[j].Node] })
	return p, nil
}

func biasAxis(w *Spec) int {
	if w.Axis >= 0 {
		return 0
	}
	return -1
}

func blockFor(opts Options, w *graph.Value, axis int) int {
	if opts.BlockSize <= 0 || axis < 0 || w.Const.Rank() < 2 {
		return 0
	}
	return opts.BlockSize
}

func clipBoundsConst(n *graph.Node) bool {
	for _, v := range n.Inputs[1:] {
		if v != nil && !v.IsConst() {
			return false
		}
	}
	return true
}

// isFloat reports whether v is known to hold float32 values.
func isFloat(v *graph.Value) bool {
	return v != nil && v.ElemType() == graph.Float
}

// orderValues lists the quantized values in model order: graph inputs,
// initializers, then node outputs, graph by graph.
func orderValues(m *graph.Model, specs map[*graph.Value]*Spec) []*graph.Value {
	var out []*graph.Value
	seen := map[*graph.Value]bool{}
	add := func(v *graph.Value) {
		if v != nil && specs[v] != nil && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, g := range m.Graph.Graphs() {
		for _, v := range g.Inputs {
			add(v)
		}
		for _, v := range g.Initializers {
			add(v)
		}
		for _, n := range g.Nodes {
			for _, v := range n.Inputs {
				add(v)
			}
			for _, v := range n.Outputs {
				add(v)
			}
		}
	}
	if len(out) != len(specs) {
		panic(fmt.Sprintf("rewrite: %d quantized values, %d ordered", len(specs), len(out)))
	}
	return out
}
