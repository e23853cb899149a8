package tune

import (
	"fmt"
	"math"
	"sort"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// Pair is a tensor of the reference model and its counterpart in the model
// compared with it.
type Pair struct {
	Ref, Test *graph.Value
}

// Match pairs the values of ref with values of test. A value V of a float
// model appears in its QDQ model (as insert-qdq writes it: values keep
// their names) either as V itself or, when V was quantized, as the output
// of its DequantizeLinear, V_dequantized: the quantized form is preferred,
// since it carries V's own rounding error. Graph outputs are matched by
// name. Values of subgraphs are not matched.
func Match(ref, test *graph.Model) []Pair {
	byName := map[string]*graph.Value{}
	for _, v := range test.Graph.Inputs {
		byName[v.Name] = v
	}
	for _, n := range test.Graph.Nodes {
		for _, v := range n.Outputs {
			if v != nil {
				byName[v.Name] = v
			}
		}
	}
	outputs := map[string]bool{}
	for _, v := range ref.Graph.Outputs {
		outputs[v.Name] = true
	}
	var pairs []Pair
	seen := map[*graph.Value]bool{}
	add := func(v *graph.Value) {
		if v == nil || seen[v] || v.IsConst() {
			return
		}
		seen[v] = true
		if !outputs[v.Name] {
			if dq := byName[v.Name+"_dequantized"]; dq != nil && dq.Producer != nil && dq.Producer.OpType == "DequantizeLinear" {
				pairs = append(pairs, Pair{v, dq})
				return
			}
		}
		if t := byName[v.Name]; t != nil {
			pairs = append(pairs, Pair{v, t})
		}
	}
	for _, v := range ref.Graph.Inputs {
		add(v)
	}
	for _, n := range ref.Graph.Nodes {
		for _, v := range n.Outputs {
			add(v)
		}
	}
	return pairs
}

// TensorResult is how far one tensor of the compared model is from its
// reference.
type TensorResult struct {
	// Name is the tensor's name in the reference model, Matched its
	// counterpart's name in the compared model.
	Name    string `json:"name"`
	Matched string `json:"matched"`
	// Op is the operator that computes the tensor in the reference model
	// ("" for graph inputs), Node its name.
	Op   string `json:"op"`
	Node string `json:"node,omitempty"`
	// Order is the position of that node in the reference model (-1 for
	// graph inputs): smaller is closer to the inputs.
	Order int `json:"order"`
	ErrorStats
	// LocalSQNR estimates the SQNR this tensor would have if its inputs
	// were exact: the noise power it adds on top of the noisiest of its
	// (nearest compared) inputs, both relative to their signal power.
	// The lowest local SQNR is where the compared model drifts most.
	LocalSQNR Num `json:"local_sqnr_db"`

	err *Error
}

// Comparison is the result of Compare.
type Comparison struct {
	Samples int `json:"samples"`
	// Outputs are the graph outputs, worst SQNR first.
	Outputs []TensorResult `json:"outputs"`
	// Tensors are the matched intermediate tensors (and inputs), worst
	// SQNR first.
	Tensors []TensorResult `json:"tensors"`
	// Unmatched counts reference values with no counterpart; Skipped
	// those with a counterpart that could not be compared (not float, or
	// of another shape), by name.
	Unmatched int               `json:"unmatched"`
	Skipped   map[string]string `json:"skipped,omitempty"`
}

// CompareOptions adjust Compare.
type CompareOptions struct {
	// MaxBytes bounds the memory held for reference tensors while one
	// sample is compared (default 1 GiB). When the matched tensors of one
	// sample need more, the sample is run again for the rest.
	MaxBytes int64
	// Progress, if set, is called after each sample.
	Progress func(done, total int)
}

// Compare runs ref and test (two models with the same inputs, e.g. a float
// model and its quantization) on every sample of src with the Go engine
// and measures, for every output and every matched intermediate tensor
// (see Match), the error of test against ref.
func Compare(ref, test *graph.Model, src dataset.Source, opts CompareOptions) (*Comparison, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	pr, err := engine.Compile(ref)
	if err != nil {
		return nil, fmt.Errorf("reference model: %w", err)
	}
	pt, err := engine.Compile(test)
	if err != nil {
		return nil, fmt.Errorf("compared model: %w", err)
	}
	pairs := Match(ref, test)
	byRef := map[*graph.Value]int{}
	byTest := map[*graph.Value][]int{}
	for i, p := range pairs {
		byRef[p.Ref] = i
		byTest[p.Test] = append(byTest[p.Test], i)
	}
	errs := make([]*Error, len(pairs))
	skipped := map[int]string{}
	for s := 0; s < src.Len(); s++ {
		sample, err := src.Sample(s)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", s, err)
		}
		if err := compareSample(pr, pt, sample, pairs, byRef, byTest, errs, skipped, opts.MaxBytes); err != nil {
			return nil, fmt.Errorf("sample %d: %w", s, err)
		}
		if opts.Progress != nil {
			opts.Progress(s+1, src.Len())
		}
	}
	return summarize(ref, pairs, errs, skipped, src.Len()), nil
}

// compareSample runs both models on one sample, as many times as the
// memory bound needs, and folds every matched pair's error in.
func compareSample(pr, pt *engine.Program, sample map[string]*graph.Tensor, pairs []Pair, byRef map[*graph.Value]int, byTest map[*graph.Value][]int, errs []*Error, skipped map[int]string, maxBytes int64) error {
	pending := map[int]bool{}
	for i := range pairs {
		if _, skip := skipped[i]; !skip {
			pending[i] = true
		}
	}
	first := true
	for len(pending) > 0 {
		held := map[int]*graph.Tensor{}
		var bytes int64
		observed := map[int]bool{}
		_, err := pr.Run(sample, &engine.RunOptions{Observe: func(v *graph.Value, t *graph.Tensor) {
			i, ok := byRef[v]
			if !ok || !pending[i] {
				return
			}
			observed[i] = true
			if !t.DType.IsFloat() {
				skipped[i] = fmt.Sprintf("%s values are not compared", t.DType)
				return
			}
			size := int64(t.Len()) * 4
			if len(held) > 0 && bytes+size > maxBytes {
				return
			}
			f, err := t.Float32s()
			if err != nil {
				skipped[i] = err.Error()
				return
			}
			bytes += size
			held[i] = graph.MustTensor(graph.Float, append([]int64{}, t.Shape...), append([]float32{}, f...))
		}})
		if err != nil {
			return fmt.Errorf("reference model: %w", err)
		}
		if first {
			// Values the reference never computes (dead or in an
			// untaken branch) are not waited for.
			for i := range pending {
				if !observed[i] {
					delete(pending, i)
				}
			}
			first = false
		}
		for i := range skipped {
			delete(pending, i)
		}
		if len(held) == 0 {
			break
		}
		_, err = pt.Run(sample, &engine.RunOptions{Observe: func(v *graph.Value, t *graph.Tensor) {
			for _, i := range byTest[v] {
				want, ok := held[i]
				if !ok {
					continue
				}
				if !t.DType.IsFloat() {
					skipped[i] = fmt.Sprintf("%s is %s in the compared model", pairs[i].Test.Name, t.DType)
					continue
				}
				if errs[i] == nil {
					errs[i] = &Error{}
				}
				if err := errs[i].Add(t, want); err != nil {
					skipped[i] = err.Error()
				}
			}
		}})
		if err != nil {
			return fmt.Errorf("compared model: %w", err)
		}
		for i := range held {
			delete(pending, i)
		}
	}
	return nil
}

// summarize turns the per-pair errors into the sorted result.
func summarize(ref *graph.Model, pairs []Pair, errs []*Error, skipped map[int]string, samples int) *Comparison {
	order := map[*graph.Node]int{}
	for i, n := range ref.Graph.Nodes {
		order[n] = i
	}
	outputs := map[*graph.Value]bool{}
	for _, v := range ref.Graph.Outputs {
		outputs[v] = true
	}
	c := &Comparison{Samples: samples, Skipped: map[string]string{}}
	noise := map[*graph.Value]float64{} // noise ratio of each compared reference value
	for i, p := range pairs {
		if errs[i] != nil && skipped[i] == "" {
			noise[p.Ref] = errs[i].NoiseRatio()
		}
	}
	inNoise := inputNoise(noise)
	matched := 0
	for i, p := range pairs {
		if msg, ok := skipped[i]; ok {
			c.Skipped[p.Ref.Name] = msg
			continue
		}
		if errs[i] == nil {
			continue
		}
		matched++
		r := TensorResult{Name: p.Ref.Name, Matched: p.Test.Name, Order: -1, ErrorStats: errs[i].Stats(), err: errs[i]}
		if n := p.Ref.Producer; n != nil {
			r.Op, r.Node, r.Order = n.OpType, n.Name, order[n]
		}
		local := noise[p.Ref]
		if n := p.Ref.Producer; n != nil {
			local -= inNoise(n)
		}
		r.LocalSQNR = Num(sqnr(1, math.Max(local, 0)))
		if outputs[p.Ref] {
			c.Outputs = append(c.Outputs, r)
		} else {
			c.Tensors = append(c.Tensors, r)
		}
	}
	c.Unmatched = countValues(ref) - len(pairs)
	SortWorstFirst(c.Outputs)
	SortWorstFirst(c.Tensors)
	return c
}

// inputNoise returns a function giving, for a node, the largest noise
// ratio among its nearest compared inputs (looking through nodes whose
// outputs were not compared); constants and uncompared graph inputs are
// exact.
func inputNoise(noise map[*graph.Value]float64) func(*graph.Node) float64 {
	memo := map[*graph.Value]float64{}
	var valueNoise func(v *graph.Value, depth int) float64
	var nodeNoise func(n *graph.Node, depth int) float64
	valueNoise = func(v *graph.Value, depth int) float64 {
		if x, ok := noise[v]; ok {
			return x
		}
		if x, ok := memo[v]; ok {
			return x
		}
		x := 0.0
		if v.Producer != nil && !v.IsConst() && depth < 10000 {
			x = nodeNoise(v.Producer, depth+1)
		}
		memo[v] = x
		return x
	}
	nodeNoise = func(n *graph.Node, depth int) float64 {
		worst := 0.0
		for _, in := range n.Inputs {
			if in != nil {
				worst = math.Max(worst, valueNoise(in, depth))
			}
		}
		return worst
	}
	return func(n *graph.Node) float64 { return nodeNoise(n, 0) }
}

func countValues(m *graph.Model) int {
	n := 0
	for _, v := range m.Graph.Inputs {
		if !v.IsConst() {
			n++
		}
	}
	for _, nd := range m.Graph.Nodes {
		for _, v := range nd.Outputs {
			if v != nil {
				n++
			}
		}
	}
	return n
}

// SortWorstFirst sorts results by SQNR, lowest first, then by position in
// the model.
func SortWorstFirst(rs []TensorResult) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := float64(rs[i].SQNR), float64(rs[j].SQNR)
		if a != b {
			return a < b
		}
		return rs[i].Order < rs[j].Order
	})
}

// SortLocal sorts results by local SQNR, lowest first: the tensors where
// the most error is introduced come first.
func SortLocal(rs []TensorResult) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := float64(rs[i].LocalSQNR), float64(rs[j].LocalSQNR)
		if a != b {
			return a < b
		}
		return rs[i].Order < rs[j].Order
	})
}
