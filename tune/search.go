package tune

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Budget is what a mixed-precision model must keep, measured on the
// evaluation data against the float model. Unset fields do not constrain.
type Budget struct {
	// MaxDrop is the largest loss of top-1 accuracy allowed, in points
	// (percent): 0.5 allows 98.91% -> 98.41%. It needs labels.
	MaxDrop *float64 `json:"max_drop_points,omitempty"`
	// MinSQNR is the lowest SQNR allowed for every output, in dB.
	MinSQNR *float64 `json:"min_sqnr_db,omitempty"`
}

// String describes the budget.
func (b Budget) String() string {
	var parts []string
	if b.MaxDrop != nil {
		parts = append(parts, fmt.Sprintf("top-1 drop <= %g points", *b.MaxDrop))
	}
	if b.MinSQNR != nil {
		parts = append(parts, fmt.Sprintf("output SQNR >= %g dB", *b.MinSQNR))
	}
	return strings.Join(parts, ", ")
}

// Meets reports whether m keeps the budget, given the float model's top-1.
func (b Budget) Meets(m *Measurement, floatTop1 *float64) bool {
	if b.MaxDrop != nil {
		if m.Top1 == nil || floatTop1 == nil {
			return false
		}
		// Accuracies are counts over the same samples: compare with a
		// tolerance far below one sample.
		if *m.Top1 < *floatTop1-*b.MaxDrop/100-1e-9 {
			return false
		}
	}
	if b.MinSQNR != nil && float64(m.SQNR) < *b.MinSQNR {
		return false
	}
	return true
}

// Step is one measured model of a search.
type Step struct {
	// Label says which model it is.
	Label string `json:"label"`
	// Search is "mixed" or "baseline"; K is the position in that
	// search's sequence of models (0: cheapest).
	Search string `json:"search"`
	K      int    `json:"k"`
	Meets  bool   `json:"meets_budget"`
	*Measurement
}

// SearchResult is what Search chose.
type SearchResult struct {
	Budget     Budget      `json:"budget"`
	Precisions []Precision `json:"precisions"`
	// FloatTop1 is the float model's top-1 on the evaluation data (as
	// the verifying backend measures it).
	FloatTop1 *float64 `json:"float_top1,omitempty"`
	// Chosen is the precision of each layer of the result; Variant the
	// model (Measurement its measurement).
	Chosen      map[string]Setting `json:"chosen"`
	Measurement *Measurement       `json:"measurement"`
	Variant     *Variant           `json:"-"`
	// Baseline is the all-int8 model with the fewest most sensitive
	// layers left in float that meets the budget.
	Baseline       *Step `json:"baseline"`
	BaselineFloats int   `json:"baseline_float_layers"`
	// Mixed is the best mixed-precision model found (nil when none of
	// int4 / int16 was allowed).
	Mixed *Step `json:"mixed,omitempty"`
	// Why explains the outcome in one or two sentences (which of mixed
	// and baseline was chosen and why).
	Why string `json:"why"`
	// Steps are every model measured with the verifying backend.
	Steps []Step `json:"steps"`
	// Alone are the per-layer noise measurements the search was guided
	// by (per layer, per precision: the SQNR with only that layer
	// quantized).
	Alone map[string]map[Precision]Num `json:"alone_sqnr_db"`
	// Ranking names the layers, most sensitive first, as the search
	// used them; Layers describes them (in model order).
	Ranking []string `json:"ranking"`
	Layers  []Layer  `json:"layers"`
}

// SearchOptions adjust Search.
type SearchOptions struct {
	Budget Budget
	// Precisions are the allowed precisions (default all); Float is
	// always allowed.
	Precisions []Precision
	// Ranking optionally gives the layers most sensitive first (from
	// Analyze); default: by the SQNR of each layer quantized alone at
	// int8.
	Ranking []string
}

// Search chooses a precision per layer, cheapest first, so that the model
// meets the budget on the evaluation data.
//
// Each layer is measured quantized alone at every allowed precision (the
// noise it adds by itself); the layers are ranked by that noise at int8.
// A bisection first finds the int8 baseline: all layers int8 and the
// fewest most sensitive layers in float that keep the budget. Two greedy
// paths then look for cheaper mixed-precision models, assuming the noise
// of the layers adds up: up from every layer at its cheapest precision,
// upgrading one layer at a time where that removes the most predicted
// output noise per byte (Layer.Cost); and down from the baseline, making
// one layer at a time cheaper (float to int16, int8 to int4) where that
// adds the least predicted noise per byte saved. A bisection along each
// path finds its cheapest model whose measurement keeps the budget (the
// predictions only order the models; only measurements decide), and the
// smallest model that keeps the budget is chosen.
func Search(s *Session, opts SearchOptions) (*SearchResult, error) {
	if opts.Budget.MaxDrop == nil && opts.Budget.MinSQNR == nil {
		return nil, fmt.Errorf("no budget: give a top-1 drop or a minimum SQNR")
	}
	if opts.Budget.MaxDrop != nil && s.ref.data.Labels == nil {
		return nil, fmt.Errorf("a top-1 budget needs labelled evaluation data")
	}
	allowed := opts.Precisions
	if len(allowed) == 0 {
		allowed = Precisions
	}
	allowed = withFloat(allowed)
	res := &SearchResult{Budget: opts.Budget, Precisions: allowed, Alone: map[string]map[Precision]Num{}, Layers: s.Layers}
	var err error
	if res.FloatTop1, err = s.VerifyFloatTop1(); err != nil {
		return nil, err
	}
	// Noise of each layer alone at each allowed quantized precision.
	noise, err := aloneNoise(s, allowed, res)
	if err != nil {
		return nil, err
	}
	ranking := opts.Ranking
	if len(ranking) == 0 {
		ranking = rankByNoise(s, noise)
	}
	res.Ranking = ranking
	type measured struct {
		m *Measurement
		v *Variant
	}
	cache := map[string]measured{} // by the settings of the built model
	measure := func(search string, k int, label string, c Choice) (*Step, *Variant, error) {
		v, err := s.Build(c)
		if err != nil {
			return nil, nil, err
		}
		key := settingsKey(v.Settings)
		got, ok := cache[key]
		if !ok {
			m, err := s.Verify(v.Model)
			if err != nil {
				return nil, nil, err
			}
			got = measured{m, v}
			cache[key] = got
		}
		if label == "" {
			label = DescribeSettings(v.Settings)
		}
		st := Step{Label: label, Search: search, K: k, Meets: opts.Budget.Meets(got.m, res.FloatTop1), Measurement: got.m}
		res.Steps = append(res.Steps, st)
		s.progress("budget search", len(res.Steps), 0)
		return &st, got.v, nil
	}
	// Baseline: int8 with the k most sensitive layers in float.
	baseChoice := func(k int) Choice {
		c := s.Uniform(Int8)
		for _, name := range ranking[:k] {
			c[name] = Float
		}
		return c
	}
	base, baseK, baseV, err := bisect(len(ranking), func(k int) (*Step, *Variant, error) {
		return measure("baseline", k, fmt.Sprintf("int8, %d most sensitive in float", k), baseChoice(k))
	})
	if err != nil {
		return nil, err
	}
	res.Baseline, res.BaselineFloats = base, baseK
	best, bestV := base, baseV
	mixedAllowed := false
	for _, p := range allowed {
		if p == Int4 || p == Int16 {
			mixedAllowed = true
		}
	}
	if !mixedAllowed {
		// The baseline keeps a prefix of the ranking in float; some of
		// those layers may not be needed once the others are float.
		// Each is tried in int8, the largest first, and stays int8 when
		// the model still keeps the budget and is smaller (quantizing a
		// small layer can cost more in Q/DQ nodes than it saves).
		c := baseChoice(baseK)
		back := 0
		for _, name := range largestFirst(s, ranking[:baseK]) {
			c[name] = Int8
			st, v, err := measure("refine", back+1, "", c)
			if err != nil {
				return nil, err
			}
			if !st.Meets || st.Size >= best.Size {
				c[name] = Float
				continue
			}
			back++
			best, bestV = st, v
		}
		if back > 0 {
			res.Why = fmt.Sprintf("only int8 and float are allowed: of the %d most sensitive layer(s) that the int8 baseline keeps in float, %d could go back to int8 (tried largest first) with the model still keeping the budget, at %d bytes against the baseline's %d", baseK, back, best.Size, base.Size)
		} else {
			res.Why = fmt.Sprintf("only int8 and float are allowed: the int8 model with the %d most sensitive layer(s) in float is the cheapest that keeps the budget", baseK)
		}
	} else {
		// Up from the cheapest model.
		seq := greedySequence(s, allowed, noise)
		up, _, upV, err := bisect(len(seq)-1, func(k int) (*Step, *Variant, error) {
			return measure("mixed", k, "", seq[k])
		})
		if err != nil {
			return nil, err
		}
		// Down from the baseline.
		down, err := downgradeSequence(s, allowed, noise, baseChoice(baseK), base.Size)
		if err != nil {
			return nil, err
		}
		dn, _, dnV, err := bisectLargest(len(down)-1, base, baseV, func(k int) (*Step, *Variant, error) {
			return measure("refine", k, "", down[k])
		})
		if err != nil {
			return nil, err
		}
		mixed, mixedV := up, upV
		if dn.Meets && (!up.Meets || dn.Size < up.Size) {
			mixed, mixedV = dn, dnV
		}
		mixedDesc := DescribeSettings(mixedV.Settings)
		res.Mixed = mixed
		switch {
		case mixed.Meets && mixed.Size < base.Size:
			best, bestV = mixed, mixedV
			res.Why = fmt.Sprintf("mixed precision (%s) keeps the budget at %d bytes, %.1f%% smaller than the int8 baseline with %d layer(s) in float (%d bytes)",
				mixedDesc, mixed.Size, 100*(1-float64(mixed.Size)/float64(base.Size)), baseK, base.Size)
		case baseK == 0:
			res.Why = fmt.Sprintf("int8 everywhere keeps the budget (%d bytes) and no model with cheaper precisions that was measured does", base.Size)
		default:
			res.Why = fmt.Sprintf("no mixed-precision model that was measured keeps the budget at fewer bytes than the int8 baseline with %d layer(s) in float (%d bytes), so the baseline is chosen",
				baseK, base.Size)
		}
	}
	if !best.Meets {
		res.Why = "no quantized model keeps the budget: even the float model does not (check the budget and the evaluation data)"
	}
	res.Variant, res.Measurement, res.Chosen = bestV, best.Measurement, bestV.Settings
	return res, nil
}

// bisect finds the smallest k in [0, n] whose model keeps the budget,
// assuming the models grow better with k and model n keeps it: it
// measures 0, then halves the interval. Model n is measured only when no
// smaller one keeps the budget. It returns the model it settled on.
func bisect(n int, at func(k int) (*Step, *Variant, error)) (*Step, int, *Variant, error) {
	st, v, err := at(0)
	if err != nil || st.Meets || n == 0 {
		return st, 0, v, err
	}
	lo, hi := 0, n
	var hiStep *Step
	var hiV *Variant
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		st, v, err := at(mid)
		if err != nil {
			return nil, 0, nil, err
		}
		if st.Meets {
			hi, hiStep, hiV = mid, st, v
		} else {
			lo = mid
		}
	}
	if hiStep == nil {
		if hiStep, hiV, err = at(n); err != nil {
			return nil, 0, nil, err
		}
	}
	return hiStep, hi, hiV, nil
}

// bisectLargest finds the largest k in [0, n] whose model keeps the
// budget, assuming the models grow worse with k and model 0 (given: st0,
// v0) keeps it: it measures n, then halves the interval.
func bisectLargest(n int, st0 *Step, v0 *Variant, at func(k int) (*Step, *Variant, error)) (*Step, int, *Variant, error) {
	if n <= 0 {
		return st0, 0, v0, nil
	}
	st, v, err := at(n)
	if err != nil || st.Meets {
		return st, n, v, err
	}
	lo, hi := 0, n
	loStep, loV := st0, v0
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		st, v, err := at(mid)
		if err != nil {
			return nil, 0, nil, err
		}
		if st.Meets {
			lo, loStep, loV = mid, st, v
		} else {
			hi = mid
		}
	}
	return loStep, lo, loV, nil
}

// downgradeSequence returns models going down from start (a model that
// keeps the budget, of startSize bytes): each next model makes one more
// layer one step cheaper (float to int16, or to int8 without int16; int8
// to int4), the step that adds the least predicted noise per byte it
// saves first. Each step is built once to know the bytes it really saves
// (quantizing a small layer can cost more in Q/DQ nodes than its weights
// save) and the precision it really gets (a scale group can hold a layer
// at 8-bit activations); steps that save nothing are dropped. Model 0 is
// start.
func downgradeSequence(s *Session, allowed []Precision, noise map[string]map[Precision][]float64, start Choice, startSize int64) ([]Choice, error) {
	has := map[Precision]bool{}
	for _, p := range allowed {
		has[p] = true
	}
	type step struct {
		layer string
		to    Precision
		score float64
	}
	var steps []step
	for i, l := range s.Layers {
		s.progress("planning", i+1, len(s.Layers))
		from, ok := start[l.Name]
		if !ok {
			from = Int8
		}
		var to Precision
		switch {
		case from == Float && has[Int16]:
			to = Int16
		case from == Float && has[Int8]:
			to = Int8
		case from == Int8 && has[Int4] && l.HasWeights():
			to = Int4
		default:
			continue
		}
		c := copyChoice(start)
		c[l.Name] = to
		v, err := s.Build(c)
		if err != nil {
			return nil, err
		}
		saved := float64(startSize - ModelSize(v.Model))
		if saved <= 0 {
			continue
		}
		got := v.Settings[l.Name]
		eff := to
		for _, p := range Precisions {
			if p.Setting() == got {
				eff = p
			}
		}
		if got.WeightBits == 4 {
			eff = Int4
		}
		added := 0.0
		nt, nf := noise[l.Name][eff], noise[l.Name][from]
		for o := range nt {
			added = math.Max(added, nt[o]-at(nf, o))
		}
		steps = append(steps, step{l.Name, to, added / saved})
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].score < steps[j].score })
	seq := []Choice{copyChoice(start)}
	cur := copyChoice(start)
	for _, st := range steps {
		cur[st.layer] = st.to
		seq = append(seq, copyChoice(cur))
	}
	return seq, nil
}

// aloneNoise measures each layer quantized alone at each allowed
// quantized precision and returns, per layer and precision, the noise
// ratio of each output. 16-bit activations of layers measured at int4 and
// int8 are not measured but estimated: quantization noise power scales
// as 4^-bits, so with weights at 8 bits the int8 and int4 measurements
// separate the weight noise (what remains at int16) from the activation
// noise (2^-16 of its int8 value).
func aloneNoise(s *Session, allowed []Precision, res *SearchResult) (map[string]map[Precision][]float64, error) {
	out := map[string]map[Precision][]float64{}
	has := map[Precision]bool{}
	for _, p := range allowed {
		has[p] = true
	}
	total := 0
	for _, l := range s.Layers {
		for _, p := range []Precision{Int4, Int8, Int16} {
			if has[p] && measuredAlone(l, p, has) {
				total++
			}
		}
	}
	done := 0
	for _, l := range s.Layers {
		out[l.Name] = map[Precision][]float64{}
		res.Alone[l.Name] = map[Precision]Num{}
		for _, p := range []Precision{Int4, Int8, Int16} {
			if !has[p] || !measuredAlone(l, p, has) {
				continue
			}
			c := s.Uniform(Float)
			c[l.Name] = p
			m, err := s.Evaluate(c)
			if err != nil {
				return nil, fmt.Errorf("layer %s alone at %s: %w", l.Name, p, err)
			}
			out[l.Name][p] = m.noise
			res.Alone[l.Name][p] = m.SQNR
			done++
			s.progress("per-layer noise", done, total)
		}
		if has[Int16] && !measuredAlone(l, Int16, has) {
			n8 := out[l.Name][Int8]
			n4 := out[l.Name][Int4]
			est := make([]float64, len(n8))
			for o := range n8 {
				act := n8[o]
				if l.HasWeights() && n4 != nil {
					w8 := math.Max(n4[o]-n8[o], 0) / 255
					act = math.Max(n8[o]-w8, 0)
					est[o] = w8 + act/65536
				} else {
					est[o] = act / 65536
				}
			}
			out[l.Name][Int16] = est
		}
	}
	return out, nil
}

// measuredAlone says whether the layer is measured alone at p (rather
// than estimated, or not applicable).
func measuredAlone(l Layer, p Precision, has map[Precision]bool) bool {
	switch p {
	case Int4:
		return l.HasWeights()
	case Int16:
		// Estimated from int8 (and int4 for layers with weights).
		if !has[Int8] {
			return true
		}
		return l.HasWeights() && !has[Int4]
	}
	return true
}

// rankByNoise orders the layers by the worst output noise of each layer
// alone at int8 (or its cheapest measured precision), largest first.
func rankByNoise(s *Session, noise map[string]map[Precision][]float64) []string {
	worst := map[string]float64{}
	for _, l := range s.Layers {
		n := noise[l.Name][Int8]
		if n == nil {
			for _, p := range []Precision{Int16, Int4} {
				if noise[l.Name][p] != nil {
					n = noise[l.Name][p]
				}
			}
		}
		for _, x := range n {
			worst[l.Name] = math.Max(worst[l.Name], x)
		}
	}
	names := make([]string, len(s.Layers))
	for i, l := range s.Layers {
		names[i] = l.Name
	}
	sort.SliceStable(names, func(i, j int) bool { return worst[names[i]] > worst[names[j]] })
	return names
}

// largestFirst orders the named layers by weight elements, then by output
// elements, largest first (ties in the given order).
func largestFirst(s *Session, names []string) []string {
	byName := map[string]Layer{}
	for _, l := range s.Layers {
		byName[l.Name] = l
	}
	out := slices.Clone(names)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := byName[out[i]], byName[out[j]]
		if a.Params != b.Params {
			return a.Params > b.Params
		}
		return a.Outputs > b.Outputs
	})
	return out
}

// greedySequence returns the models of the greedy upgrade path: from
// every layer at its cheapest allowed precision, each next model upgrades
// one layer to the precision that removes the most predicted noise (of
// the output predicted worst) per byte of Layer.Cost, until no upgrade
// removes any noise (every layer in float, or at a precision predicted
// exact).
func greedySequence(s *Session, allowed []Precision, noise map[string]map[Precision][]float64) []Choice {
	cur := Choice{}
	for _, l := range s.Layers {
		for _, p := range allowed {
			if s.clamp(l, p) == p {
				cur[l.Name] = p
				break
			}
		}
	}
	layerNoise := func(l Layer, p Precision) []float64 {
		if p == Float {
			return nil
		}
		return noise[l.Name][p]
	}
	outputs := 0
	for _, l := range s.Layers {
		for _, n := range noise[l.Name] {
			outputs = max(outputs, len(n))
		}
	}
	total := func() []float64 {
		t := make([]float64, outputs)
		for _, l := range s.Layers {
			for o, x := range layerNoise(l, cur[l.Name]) {
				t[o] += x
			}
		}
		return t
	}
	seq := []Choice{copyChoice(cur)}
	for steps := 0; steps < len(s.Layers)*len(allowed); steps++ {
		t := total()
		worst := 0
		for o := range t {
			if t[o] > t[worst] {
				worst = o
			}
		}
		bestRatio, bestLayer, bestP := 0.0, -1, Precision("")
		for i, l := range s.Layers {
			p := cur[l.Name]
			from := at(layerNoise(l, p), worst)
			for _, q := range allowed {
				if q.rank() <= p.rank() || s.clamp(l, q) != q {
					continue
				}
				gain := from - at(layerNoise(l, q), worst)
				if gain <= 0 {
					continue
				}
				cost := math.Max(l.Cost(q.Setting())-l.Cost(p.Setting()), 1e-3)
				if r := gain / cost; r > bestRatio {
					bestRatio, bestLayer, bestP = r, i, q
				}
			}
		}
		if bestLayer < 0 {
			break
		}
		cur[s.Layers[bestLayer].Name] = bestP
		seq = append(seq, copyChoice(cur))
	}
	return seq
}

func at(x []float64, i int) float64 {
	if i < len(x) {
		return x[i]
	}
	return 0
}

func copyChoice(c Choice) Choice {
	out := Choice{}
	for k, v := range c {
		out[k] = v
	}
	return out
}

func withFloat(ps []Precision) []Precision {
	seen := map[Precision]bool{}
	for _, p := range ps {
		seen[p] = true
	}
	seen[Float] = true
	var out []Precision
	for _, p := range Precisions {
		if seen[p] {
			out = append(out, p)
		}
	}
	return out
}

// settingsKey identifies a model by its layers' settings.
func settingsKey(s map[string]Setting) string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%s;", n, s[n])
	}
	return b.String()
}
