package tune

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/calibrate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// Sensitivity is how much one layer's quantization costs.
type Sensitivity struct {
	Layer
	// Rank is 1 for the most sensitive layer.
	Rank int `json:"rank"`
	// Alone measures the model with only this layer quantized: the damage
	// the layer does by itself.
	Alone *Measurement `json:"alone"`
	// LeftFloat measures the model with every layer quantized but this
	// one: what keeping it in float buys back.
	LeftFloat *Measurement `json:"left_float"`
	// Gain is LeftFloat's SQNR minus the all-quantized model's, in dB.
	Gain Num `json:"gain_db"`
	// FloatAlone is set when quantizing the layer alone quantizes
	// nothing: the quantizer leaves it in float between float neighbours
	// (an Add, say, where Q/DQ would only cost conversions), so Alone is
	// the float model.
	FloatAlone bool `json:"float_alone,omitempty"`
	// Input and Output name the activation scale groups the layer reads
	// and writes ("" when not quantized), for the histograms.
	Input  string `json:"input_group,omitempty"`
	Output string `json:"output_group,omitempty"`
}

// CurvePoint is one model of the accuracy / size trade-off.
type CurvePoint struct {
	Label string `json:"label"`
	// FloatLayers is how many of the most sensitive layers stay in float.
	FloatLayers int `json:"float_layers"`
	*Measurement
}

// ActivationRange is the calibrated range of one activation scale group,
// with a histogram of its values for plotting.
type ActivationRange struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
	// Min and Max are the extremes seen in calibration; Lo and Hi the
	// range chosen by the method (values outside are clipped).
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	Lo  float64 `json:"lo"`
	Hi  float64 `json:"hi"`
	// Edges (len(Counts)+1) and Counts are a histogram over
	// [min(Min, Lo), max(Max, Hi)].
	Edges  []float64 `json:"edges"`
	Counts []uint64  `json:"counts"`
}

// Analysis is the result of Analyze.
type Analysis struct {
	Precision    Precision `json:"precision"`
	Method       string    `json:"method"`
	CalibSamples int       `json:"calibration_samples"`
	EvalSamples  int       `json:"evaluation_samples"`
	// Float and Quantized measure the float model and every layer at
	// Precision.
	Float     *Measurement `json:"float"`
	Quantized *Measurement `json:"quantized"`
	// Layers are ranked, most sensitive first.
	Layers []Sensitivity `json:"layers"`
	// Curve trades size for accuracy: the k most sensitive layers in float.
	Curve       []CurvePoint      `json:"curve"`
	Activations []ActivationRange `json:"activations"`
}

// AnalyzeOptions adjust Analyze.
type AnalyzeOptions struct {
	// Precision is what the layers are quantized to (default Int8).
	Precision Precision
	// HistogramBins is the number of bins of the activation histograms
	// (default 100).
	HistogramBins int
}

// Analyze measures every layer's sensitivity two ways: quantized alone
// (all other layers float) and left in float (all other layers
// quantized), by output SQNR against the float model and, with labels,
// by top-1. Layers are ranked by the SQNR of the model with the layer
// quantized alone, lowest (most sensitive) first; the trade-off curve then
// keeps the 1, 2, 4, ... most sensitive layers in float.
func Analyze(s *Session, opts AnalyzeOptions) (*Analysis, error) {
	p := opts.Precision
	if p == "" {
		p = Int8
	}
	if p == Float {
		return nil, fmt.Errorf("analyze quantizes the layers: the precision cannot be float")
	}
	a := &Analysis{Precision: p, Method: string(s.Config.Method), CalibSamples: s.Stats.Samples, EvalSamples: s.EvalSamples(), Float: s.Float}
	var err error
	all := s.Uniform(p)
	if a.Quantized, err = s.Evaluate(all); err != nil {
		return nil, fmt.Errorf("all layers at %s: %w", p, err)
	}
	// The models with one layer left in float differ from this one only
	// downstream of that layer.
	if err := s.AddBase(all); err != nil {
		return nil, err
	}
	groups := groupOf(s.Plan)
	total := 2 * len(s.Layers)
	for i, l := range s.Layers {
		sens := Sensitivity{Layer: l}
		alone := s.Uniform(Float)
		alone[l.Name] = s.clamp(l, p)
		if sens.Alone, err = s.Evaluate(alone); err != nil {
			return nil, fmt.Errorf("layer %s alone: %w", l.Name, err)
		}
		s.progress("sensitivity", 2*i+1, total)
		rest := s.Uniform(p)
		rest[l.Name] = Float
		if sens.LeftFloat, err = s.Evaluate(rest); err != nil {
			return nil, fmt.Errorf("layer %s in float: %w", l.Name, err)
		}
		s.progress("sensitivity", 2*i+2, total)
		sens.Gain = Num(float64(sens.LeftFloat.SQNR) - float64(a.Quantized.SQNR))
		sens.FloatAlone = math.IsInf(float64(sens.Alone.SQNR), 1) && sens.Alone.Size == s.Float.Size
		sens.Input, sens.Output = groups.input(s.Model, l), groups.output(s.Model, l)
		a.Layers = append(a.Layers, sens)
	}
	RankLayers(a.Layers)
	if err := a.curve(s, p); err != nil {
		return nil, err
	}
	if a.Activations, err = activationRanges(s, opts.HistogramBins); err != nil {
		return nil, err
	}
	return a, nil
}

// RankLayers sorts layers by the SQNR of the model with the layer
// quantized alone, lowest first, then by the gain of leaving it in float,
// largest first, and numbers them.
func RankLayers(ls []Sensitivity) {
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := float64(ls[i].Alone.SQNR), float64(ls[j].Alone.SQNR)
		if a != b {
			return a < b
		}
		return float64(ls[i].Gain) > float64(ls[j].Gain)
	})
	for i := range ls {
		ls[i].Rank = i + 1
	}
}

// curve measures the k most sensitive layers in float for k = 0, 1, 2, 4,
// ... and all of them (the float model).
func (a *Analysis) curve(s *Session, p Precision) error {
	a.Curve = append(a.Curve, CurvePoint{Label: "all " + string(p), Measurement: a.Quantized})
	for k := 1; k < len(a.Layers); k *= 2 {
		c := s.Uniform(p)
		for _, l := range a.Layers[:k] {
			c[l.Name] = Float
		}
		m, err := s.Evaluate(c)
		if err != nil {
			return err
		}
		a.Curve = append(a.Curve, CurvePoint{Label: fmt.Sprintf("%d most sensitive in float", k), FloatLayers: k, Measurement: m})
		s.progress("trade-off curve", k, len(a.Layers))
	}
	a.Curve = append(a.Curve, CurvePoint{Label: "float", FloatLayers: len(a.Layers), Measurement: s.Float})
	return nil
}

// groups maps activations of the session's full plan to their scale
// group's representative.
type groups map[*graph.Value]string

func groupOf(p *rewrite.Plan) groups {
	g := groups{}
	for v, s := range p.Specs {
		if s.Role == rewrite.RoleActivation {
			g[v] = s.Group.Name
		}
	}
	return g
}

func (g groups) input(m *graph.Model, l Layer) string {
	n := findNode(m, l.Name)
	if n == nil {
		return ""
	}
	return g[n.Input(0)]
}

func (g groups) output(m *graph.Model, l Layer) string {
	n := findNode(m, l.Nodes[len(l.Nodes)-1])
	if n == nil {
		return ""
	}
	return g[n.Output(0)]
}

func findNode(m *graph.Model, name string) *graph.Node {
	var found *graph.Node
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.Name == name {
			found = n
		}
		return found == nil
	})
	return found
}

// activationRanges returns every activation group of the session's full
// plan with its calibrated range and a histogram.
func activationRanges(s *Session, bins int) ([]ActivationRange, error) {
	if bins <= 0 {
		bins = 100
	}
	f, err := s.Stats.GroupStats(s.Plan)
	if err != nil {
		return nil, err
	}
	ranges, err := ptq.Ranges(s.Plan, f, s.Config.Method, s.Config.Percentile)
	if err != nil {
		return nil, err
	}
	var out []ActivationRange
	for _, rep := range s.Plan.Activations() {
		st, ok := f.Tensors[rep.Name]
		if !ok {
			continue // constants only
		}
		r := ranges[rep]
		ar := ActivationRange{Name: rep.Name, Min: st.Min, Max: st.Max, Lo: r.Min, Hi: r.Max}
		for _, v := range s.Plan.GroupMembers(rep) {
			ar.Members = append(ar.Members, v.Name)
		}
		ar.Edges, ar.Counts = rebin(st, math.Min(st.Min, r.Min), math.Max(st.Max, r.Max), bins)
		out = append(out, ar)
	}
	return out, nil
}

// rebin spreads a calibration histogram over n equal bins of [lo, hi]
// (each source bin goes to the display bin holding its centre).
func rebin(st *calibrate.Stats, lo, hi float64, n int) ([]float64, []uint64) {
	if hi <= lo {
		hi = lo + 1e-6
	}
	edges := make([]float64, n+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/float64(n)
	}
	counts := make([]uint64, n)
	h := st.Hist
	w := 2 * h.Limit / float64(len(h.Counts))
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		x := -h.Limit + (float64(i)+0.5)*w
		k := int((x - lo) / (hi - lo) * float64(n))
		k = max(0, min(n-1, k))
		counts[k] += c
	}
	return edges, counts
}
