package tune

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// Options adjust a Session.
type Options struct {
	// Backend measures the variants: the many measurements of the
	// sensitivity analysis run on it. Nil means onnxq's engine, with the
	// tensors of the float model (and of bases added with AddBase) kept,
	// so that a variant only recomputes the nodes it changes.
	Backend Backend
	// Verify, if set, measures the variants a budget is decided on (the
	// few of a search's bisection and its result), e.g. ORTBackend, so the
	// budget holds in the runtime the model is made for.
	Verify Backend
	// MeasureSamples, when > 0, measures on the Backend with only the
	// first MeasureSamples evaluation samples (the per-layer measurements
	// of Analyze and Search); Verify always uses them all.
	MeasureSamples int
	// Opset21 prepares the model for 4-bit weights and 16-bit
	// activations (opset 21), which Int4 and Int16 choices need.
	Opset21 bool
	// Progress, if set, is told what the session is doing: a stage name
	// and how far it is (done of total).
	Progress func(stage string, done, total int)
}

// Session is a float model normalized, calibrated once and measured once,
// from which quantized variants are built and measured.
type Session struct {
	// Config is the run's base configuration (every layer at Int8).
	Config ptq.Config
	// Model is the normalized float model (never quantized itself).
	Model *graph.Model
	// Plan quantizes every layer with Config (Model's plan).
	Plan *rewrite.Plan
	// Layers are the plan's layers, in model order.
	Layers []Layer
	// Stats are the calibration statistics of every float tensor.
	Stats *ValueStats
	// Float is the float model measured against itself (top-1 and size).
	Float *Measurement
	// Log lists the normalization passes.
	Log rewrite.Log

	snap    *Snapshot
	ref     *reference // measured with backend
	vref    *reference // measured with opts.Verify, made on first use
	eval    EvalData
	fast    EvalData // the first MeasureSamples of eval
	backend Backend
	// cache turns on the bases: variants measured with Measure only
	// recompute what differs from the closest base.
	cache      bool
	bases      []*base
	cacheBytes int64
	opts       Options
	layerOf    map[string]int          // node name -> index in Layers
	memo       map[string]*Measurement // Evaluate's results by settings
}

// NewSession normalizes m (in place) with cfg, calibrates every float
// tensor on calib and measures the float model on eval. cfg must quantize
// weights and activations to 8 bits: the session's choices set the bit
// widths per layer.
func NewSession(m *graph.Model, calib dataset.Source, eval EvalData, cfg ptq.Config, opts Options) (*Session, error) {
	if cfg.WeightBits != 8 || cfg.ActBits != 8 {
		return nil, fmt.Errorf("the base configuration must be 8-bit weights and activations (got %d and %d): the choices set the bit widths per layer", cfg.WeightBits, cfg.ActBits)
	}
	s := &Session{Config: cfg, backend: opts.Backend, opts: opts, eval: eval}
	if s.backend == nil {
		s.backend, s.cache = GoBackend, true
	}
	p, err := ptq.Prepare(m, calib, cfg)
	if err != nil {
		return nil, err
	}
	s.Log = p.Log
	if opts.Opset21 && m.Opset("") < 21 {
		if err := rewrite.Run(m, &s.Log, rewrite.UpgradeOpset(21)); err != nil {
			return nil, err
		}
		if p.Plan, err = annotate(m, cfg); err != nil {
			return nil, err
		}
	}
	s.Model, s.Plan = m, p.Plan
	s.Layers = Layers(p.Plan)
	s.layerOf = map[string]int{}
	for i, l := range s.Layers {
		for _, n := range l.Nodes {
			s.layerOf[n] = i
		}
	}
	s.progress("calibrating", 0, calib.Len())
	if s.Stats, err = CalibrateValues(p.Prog, calib, func(done, total int) { s.progress("calibrating", done, total) }); err != nil {
		return nil, err
	}
	if s.snap, err = NewSnapshot(m); err != nil {
		return nil, err
	}
	s.progress("measuring the float model", 0, 1)
	s.fast = eval
	if opts.MeasureSamples > 0 && opts.MeasureSamples < eval.Source.Len() {
		if s.fast.Source, err = dataset.Slice(eval.Source, 0, opts.MeasureSamples); err != nil {
			return nil, err
		}
		if s.fast.Labels != nil {
			s.fast.Labels = s.fast.Labels[:opts.MeasureSamples]
		}
	}
	// The float model with the measured tensors as outputs.
	fm, err := s.snap.Model()
	if err != nil {
		return nil, err
	}
	names, err := expose(fm, eval.Tensors)
	if err != nil {
		return nil, err
	}
	var outs []map[string]*graph.Tensor
	if s.cache {
		fb, err := s.snap.Model()
		if err != nil {
			return nil, err
		}
		if _, err := expose(fb, eval.Tensors); err != nil {
			return nil, err
		}
		b, o, err := newBase(fb, s.fast.Source, maxCacheBytes)
		if err != nil {
			return nil, fmt.Errorf("float model: %w", err)
		}
		if b != nil {
			s.bases = append(s.bases, b)
			s.cacheBytes += b.bytes
		}
		outs = o
	}
	r, err := s.backend(fm)
	if err != nil {
		return nil, fmt.Errorf("float model: %w", err)
	}
	defer r.Close()
	if s.ref, err = newReference(renamed(runnerFunc(r), names), fm, s.fast, outs); err != nil {
		return nil, err
	}
	s.Float = &Measurement{SQNR: Num(math.Inf(1)), Outputs: map[string]ErrorStats{}, Top1: s.ref.top1, Size: ModelSize(m)}
	return s, nil
}

func (s *Session) progress(stage string, done, total int) {
	if s.opts.Progress != nil {
		s.opts.Progress(stage, done, total)
	}
}

// annotate plans the quantization of m with cfg.
func annotate(m *graph.Model, cfg ptq.Config) (*rewrite.Plan, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	return rewrite.Annotate(m, opts)
}

// Choice gives layers (by name) a precision; layers left out get Int8.
type Choice map[string]Precision

// Uniform returns the choice that gives every layer p (layers without
// weights get Int8 for Int4: 4 bits only apply to weights).
func (s *Session) Uniform(p Precision) Choice {
	c := Choice{}
	for _, l := range s.Layers {
		c[l.Name] = s.clamp(l, p)
	}
	return c
}

// clamp maps a precision to what a layer can take: Int4 is Int8 for
// layers without weights.
func (s *Session) clamp(l Layer, p Precision) Precision {
	if p == Int4 && !l.HasWeights() {
		return Int8
	}
	return p
}

// Variant is a quantized model built from a Choice.
type Variant struct {
	Model *graph.Model
	// Settings are the bit widths of each layer by name, after scale
	// groups were made consistent (see Build).
	Settings map[string]Setting
	// Config is the config file that makes insert-qdq build this model.
	Config *ptq.FileConfig
	// Result is what materialization did.
	Result *rewrite.Result
}

// Build makes the quantized model of a choice from a copy of the
// normalized model, with ranges from the session's statistics. Tensors
// that share one scale (a Concat's inputs and output, a MaxPool's input
// and output) must share one type too: when the choice puts 16-bit and
// 8-bit activations in one scale group, the 8-bit side is raised to 16
// bits, or, when a node of the group has no name (a config file cannot
// give it 16 bits), the 16-bit side is lowered to 8; Settings says what
// each layer got.
func (s *Session) Build(c Choice) (*Variant, error) {
	settings, cfg, fc, err := s.resolve(c)
	if err != nil {
		return nil, err
	}
	m, err := s.snap.Model()
	if err != nil {
		return nil, err
	}
	plan, err := annotate(m, cfg)
	if err != nil {
		return nil, err
	}
	ranges, err := s.Stats.Ranges(plan, cfg)
	if err != nil {
		return nil, err
	}
	res, err := ptq.MaterializePlan(plan, ranges, cfg)
	if err != nil {
		return nil, err
	}
	return &Variant{Model: m, Settings: settings, Config: fc, Result: res}, nil
}

// resolve turns a choice into per-layer settings with consistent scale
// groups (see Build), the configuration and its config file.
func (s *Session) resolve(c Choice) (map[string]Setting, ptq.Config, *ptq.FileConfig, error) {
	settings := map[string]Setting{}
	for _, l := range s.Layers {
		p, ok := c[l.Name]
		if !ok {
			p = Int8
		}
		settings[l.Name] = s.clamp(l, p).Setting()
	}
	for name := range c {
		if _, ok := settings[name]; !ok {
			return nil, ptq.Config{}, nil, fmt.Errorf("the model has no layer %q", name)
		}
	}
	act16 := map[string]bool{}  // extra nodes with 16-bit activations
	pinned := map[string]bool{} // nodes lowered to 8 bits for good
	var fc *ptq.FileConfig
	var cfg ptq.Config
	for round := 0; ; round++ {
		fc = s.fileConfig(settings, act16)
		var err error
		if cfg, err = s.ConfigOf(fc); err != nil {
			return nil, cfg, nil, err
		}
		plan, err := annotate(s.Model, cfg)
		if err != nil {
			return nil, cfg, nil, err
		}
		mixed := mixedGroups(plan)
		if len(mixed) == 0 {
			break
		}
		if round > 2*len(s.Layers)+10 {
			return nil, cfg, nil, fmt.Errorf("cannot give the scale group of %q one activation type", mixed[0].rep)
		}
		for _, g := range mixed {
			raise := g.named
			for _, n := range g.nodes {
				raise = raise && !pinned[n]
			}
			for _, n := range g.nodes {
				if !raise {
					pinned[n] = true
					delete(act16, n)
				}
				k, isLayer := s.layerOf[n]
				switch {
				case isLayer:
					st := settings[s.Layers[k].Name]
					if !st.IsFloat() {
						st.ActBits = map[bool]int{true: 16, false: 8}[raise]
						settings[s.Layers[k].Name] = st
					}
				case raise:
					act16[n] = true
				}
			}
		}
	}
	return settings, cfg, fc, nil
}

// ConfigOf returns the configuration a config file of this session
// stands for: the session's base configuration with the file's settings
// applied by fc.Apply. Node lists start empty: the file holds the base's.
func (s *Session) ConfigOf(fc *ptq.FileConfig) (ptq.Config, error) {
	cfg := s.Config
	cfg.ExcludeNodes, cfg.ExcludeOps, cfg.Nodes, cfg.Progress = nil, nil, nil, nil
	err := fc.Apply(&cfg)
	return cfg, err
}

// mixedGroup is an activation scale group whose members do not all have
// one type.
type mixedGroup struct {
	rep string
	// nodes are the quantized nodes that read or write a member (they
	// decide the members' types); named is false when one of them has no
	// name, so that a config file cannot give it 16 bits.
	nodes []string
	named bool
}

// mixedGroups returns the scale groups of plan that mix types.
func mixedGroups(plan *rewrite.Plan) []mixedGroup {
	uses := plan.Model.Graph.UseMap()
	quantized := map[*graph.Node]bool{}
	for _, d := range plan.Decisions {
		quantized[d.Node] = d.Quantized
	}
	var out []mixedGroup
	for _, rep := range plan.Activations() {
		members := plan.GroupMembers(rep)
		mixed := false
		for _, v := range members {
			if plan.Specs[v].Type.DType != plan.Specs[rep].Type.DType {
				mixed = true
			}
		}
		if !mixed {
			continue
		}
		g := mixedGroup{rep: rep.Name, named: true}
		seen := map[*graph.Node]bool{}
		for _, v := range members {
			nodes := append([]*graph.Node{}, uses[v]...)
			if v.Producer != nil {
				nodes = append(nodes, v.Producer)
			}
			for _, n := range nodes {
				if seen[n] || !quantized[n] {
					continue
				}
				seen[n] = true
				if n.Name == "" {
					g.named = false
					continue
				}
				g.nodes = append(g.nodes, n.Name)
			}
		}
		sort.Strings(g.nodes)
		out = append(out, g)
	}
	return out
}

// fileConfig writes the base configuration and per-node settings as a
// config file for insert-qdq --config.
func (s *Session) fileConfig(settings map[string]Setting, act16 map[string]bool) *ptq.FileConfig {
	c := s.Config
	perChannel, sym := c.PerChannel, c.SymmetricActivations
	fc := &ptq.FileConfig{
		Method: string(c.Method), Percentile: c.Percentile, Target: string(c.Target),
		PerChannel: &perChannel, WeightBits: c.WeightBits, ActBits: c.ActBits, SymmetricActivations: &sym,
		WeightMethod: string(c.WeightMethod), Placement: string(c.Placement),
		ExcludeNodes: append([]string{}, c.ExcludeNodes...), ExcludeOps: append([]string{}, c.ExcludeOps...),
		Nodes: map[string]ptq.NodeConfig{},
	}
	for name, ov := range c.Nodes {
		fc.Nodes[name] = ptq.NodeConfig{Exclude: ov.Exclude, WeightBits: ov.Weights.Bits(), ActBits: ov.Activations.Bits()}
	}
	for _, l := range s.Layers {
		st := settings[l.Name]
		for i, n := range l.Nodes {
			nc := fc.Nodes[n]
			switch {
			case st.IsFloat():
				nc = ptq.NodeConfig{Exclude: true}
			default:
				if i == 0 && st.WeightBits != c.WeightBits && l.HasWeights() {
					nc.WeightBits = st.WeightBits
				}
				if st.ActBits != c.ActBits {
					nc.ActBits = st.ActBits
				}
			}
			if nc != (ptq.NodeConfig{}) {
				fc.Nodes[n] = nc
			}
		}
	}
	for n := range act16 {
		nc := fc.Nodes[n]
		if !nc.Exclude {
			nc.ActBits = 16
			fc.Nodes[n] = nc
		}
	}
	if len(fc.Nodes) == 0 {
		fc.Nodes = nil
	}
	return fc
}

// Measure runs a model on the (first MeasureSamples) evaluation samples
// with the session's backend and compares it with the float model. With
// bases (see Options.Backend) it takes m over: the nodes a base already
// computed are cut out of it.
func (s *Session) Measure(m *graph.Model) (*Measurement, error) {
	size := ModelSize(m)
	names, err := expose(m, s.eval.Tensors)
	if err != nil {
		return nil, err
	}
	run, closer, err := s.runner(m)
	if err != nil {
		return nil, err
	}
	defer closer()
	meas, err := s.ref.measure(renamed(run, names))
	if err != nil {
		return nil, err
	}
	meas.Size = size
	return meas, nil
}

// runner returns how Measure runs m: the part of m that differs from the
// closest base, or all of it.
func (s *Session) runner(m *graph.Model) (runFunc, func(), error) {
	var best *base
	var clean map[*graph.Node]bool
	dirty := -1
	for _, b := range s.bases {
		c, d := b.cut(m)
		if dirty < 0 || d < dirty {
			best, clean, dirty = b, c, d
		}
	}
	if best != nil && dirty < len(m.Graph.Nodes) {
		r, err := best.newCutRunner(m, clean)
		if err != nil {
			return nil, nil, err
		}
		return r.run, func() {}, nil
	}
	r, err := s.backend(m)
	if err != nil {
		return nil, nil, err
	}
	return runnerFunc(r), func() { r.Close() }, nil
}

// AddBase runs the model of a choice on the measuring samples and keeps
// its tensors, so that variants close to it (the same choice but for a
// layer or two) are measured by recomputing only what they change. It
// does nothing when the session does not cache or the tensors would not
// fit the memory bound.
func (s *Session) AddBase(c Choice) error {
	if !s.cache {
		return nil
	}
	v, err := s.Build(c)
	if err != nil {
		return err
	}
	if _, err := expose(v.Model, s.eval.Tensors); err != nil {
		return err
	}
	b, _, err := newBase(v.Model, s.fast.Source, maxCacheBytes-s.cacheBytes)
	if err != nil {
		return err
	}
	if b != nil {
		s.bases = append(s.bases, b)
		s.cacheBytes += b.bytes
	}
	return nil
}

// Verify measures a model like Measure, with the Verify backend when the
// session has one.
func (s *Session) Verify(m *graph.Model) (*Measurement, error) {
	ref, err := s.verifyRef()
	if err != nil {
		return nil, err
	}
	size := ModelSize(m)
	var names map[string]string
	if len(s.eval.Tensors) > 0 {
		// m stays as it is: it may be the model the caller writes.
		if m, err = Clone(m); err != nil {
			return nil, err
		}
		if names, err = expose(m, s.eval.Tensors); err != nil {
			return nil, err
		}
	}
	r, err := s.verifyBackend()(m)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	meas, err := ref.measure(renamed(runnerFunc(r), names))
	if err != nil {
		return nil, err
	}
	meas.Size = size
	return meas, nil
}

// verifyRef returns the float model's outputs as the Verify backend
// computes them.
func (s *Session) verifyRef() (*reference, error) {
	if s.vref != nil {
		return s.vref, nil
	}
	if s.opts.Verify == nil && len(s.ref.values) == s.eval.Source.Len() {
		s.vref = s.ref
		return s.vref, nil
	}
	fm, err := s.snap.Model()
	if err != nil {
		return nil, err
	}
	names, err := expose(fm, s.eval.Tensors)
	if err != nil {
		return nil, err
	}
	r, err := s.verifyBackend()(fm)
	if err != nil {
		return nil, fmt.Errorf("float model: %w", err)
	}
	defer r.Close()
	if s.vref, err = newReference(renamed(runnerFunc(r), names), fm, s.eval, nil); err != nil {
		return nil, err
	}
	return s.vref, nil
}

func (s *Session) verifyBackend() Backend {
	if s.opts.Verify != nil {
		return s.opts.Verify
	}
	return s.backend
}

// VerifyFloatTop1 returns the float model's top-1 as the Verify backend
// measures it (nil without labels).
func (s *Session) VerifyFloatTop1() (*float64, error) {
	ref, err := s.verifyRef()
	if err != nil {
		return nil, err
	}
	return ref.top1, nil
}

// Evaluate builds and measures a choice (with Measure: the model is not
// kept). Measurements are remembered: a choice that resolves to settings
// measured before is not measured again.
func (s *Session) Evaluate(c Choice) (*Measurement, error) {
	settings, _, _, err := s.resolve(c)
	if err != nil {
		return nil, err
	}
	key := settingsKey(settings)
	if m, ok := s.memo[key]; ok {
		return m, nil
	}
	v, err := s.Build(c)
	if err != nil {
		return nil, err
	}
	m, err := s.Measure(v.Model)
	if err != nil {
		return nil, err
	}
	if s.memo == nil {
		s.memo = map[string]*Measurement{}
	}
	s.memo[key] = m
	return m, nil
}

// FloatTop1 returns the float model's top-1 accuracy, or nil without
// labels.
func (s *Session) FloatTop1() *float64 { return s.ref.top1 }

// EvalSamples returns the number of evaluation samples Measure uses.
func (s *Session) EvalSamples() int { return len(s.ref.values) }
