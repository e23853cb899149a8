package tune

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
)

// EvalData is what variants are measured on.
type EvalData struct {
	Source dataset.Source
	// Labels, one class per sample, turn on top-1 accuracy; nil measures
	// the output SQNR only.
	Labels []int64
	// Output is the output holding the class scores (default: the first).
	Output string
	// Tensors, when set, are the tensors whose SQNR is measured instead
	// of the graph outputs (for instance the logits before a final
	// Sigmoid, whose saturated outputs carry little signal). In a
	// quantized model a tensor V is read as V_dequantized when it exists.
	Tensors []string
}

// Measurement is how one model compares with the float model on the
// evaluation data.
type Measurement struct {
	// SQNR is the lowest output SQNR in dB (the worst output).
	SQNR Num `json:"sqnr_db"`
	// Outputs holds each output's error.
	Outputs map[string]ErrorStats `json:"outputs"`
	// Top1 is the top-1 accuracy (0..1) when the data has labels.
	Top1 *float64 `json:"top1,omitempty"`
	// Size is the size of the model file in bytes.
	Size int64 `json:"size_bytes"`
	// noise is each output's noise ratio, in reference output order.
	noise []float64
}

// reference is the float model's outputs on the evaluation data.
type reference struct {
	data    EvalData
	outputs []string
	values  []map[string]*graph.Tensor
	top1    *float64
}

// runFunc runs the model being measured on sample i of the evaluation
// data.
type runFunc func(i int, sample map[string]*graph.Tensor) (map[string]*graph.Tensor, error)

func runnerFunc(r evaluate.Runner) runFunc {
	return func(_ int, sample map[string]*graph.Tensor) (map[string]*graph.Tensor, error) { return r.Run(sample) }
}

// newReference runs the float model m (with run) on data and keeps its
// outputs; outs, when not nil, are those outputs already computed.
func newReference(run runFunc, m *graph.Model, data EvalData, outs []map[string]*graph.Tensor) (*reference, error) {
	ref := &reference{data: data}
	var graphOutputs []string
	for _, v := range m.Graph.Outputs {
		graphOutputs = append(graphOutputs, v.Name)
	}
	ref.outputs = graphOutputs
	if len(data.Tensors) > 0 {
		ref.outputs = data.Tensors
	}
	if data.Labels != nil {
		if len(data.Labels) != data.Source.Len() {
			return nil, fmt.Errorf("%d labels for %d evaluation samples", len(data.Labels), data.Source.Len())
		}
		if data.Output == "" {
			ref.data.Output = graphOutputs[0]
		} else if !contains(graphOutputs, data.Output) {
			return nil, fmt.Errorf("the model has no output %q (outputs: %q)", data.Output, graphOutputs)
		}
	}
	if data.Source.Len() == 0 {
		return nil, fmt.Errorf("the evaluation data has no samples")
	}
	var tally evaluate.Tally
	for i := 0; i < data.Source.Len(); i++ {
		var out map[string]*graph.Tensor
		if outs != nil {
			out = outs[i]
		} else {
			sample, err := data.Source.Sample(i)
			if err != nil {
				return nil, fmt.Errorf("evaluation sample %d: %w", i, err)
			}
			if out, err = run(i, sample); err != nil {
				return nil, fmt.Errorf("float model, evaluation sample %d: %w", i, err)
			}
		}
		ref.values = append(ref.values, out)
		if err := ref.score(&tally, i, out); err != nil {
			return nil, err
		}
	}
	if data.Labels != nil {
		t := tally.Accuracy().Top1
		ref.top1 = &t
	}
	return ref, nil
}

func (ref *reference) score(t *evaluate.Tally, i int, out map[string]*graph.Tensor) error {
	if ref.data.Labels == nil {
		return nil
	}
	s, err := evaluate.Scores(out[ref.data.Output])
	if err != nil {
		return fmt.Errorf("evaluation sample %d, output %q: %w", i, ref.data.Output, err)
	}
	if err := t.Add(s, ref.data.Labels[i]); err != nil {
		return fmt.Errorf("evaluation sample %d: %w", i, err)
	}
	return nil
}

// measure runs a model and compares it with the reference.
func (ref *reference) measure(run runFunc) (*Measurement, error) {
	errs := make([]Error, len(ref.outputs))
	var tally evaluate.Tally
	for i := range ref.values {
		sample, err := ref.data.Source.Sample(i)
		if err != nil {
			return nil, fmt.Errorf("evaluation sample %d: %w", i, err)
		}
		out, err := run(i, sample)
		if err != nil {
			return nil, fmt.Errorf("evaluation sample %d: %w", i, err)
		}
		for k, name := range ref.outputs {
			got, ok := out[name]
			if !ok {
				return nil, fmt.Errorf("evaluation sample %d: no output %q", i, name)
			}
			if err := errs[k].Add(got, ref.values[i][name]); err != nil {
				return nil, fmt.Errorf("evaluation sample %d, output %q: %w", i, name, err)
			}
		}
		if err := ref.score(&tally, i, out); err != nil {
			return nil, err
		}
	}
	m := &Measurement{SQNR: Num(math.Inf(1)), Outputs: map[string]ErrorStats{}}
	for k, name := range ref.outputs {
		st := errs[k].Stats()
		m.Outputs[name] = st
		m.SQNR = Num(math.Min(float64(m.SQNR), float64(st.SQNR)))
		m.noise = append(m.noise, errs[k].NoiseRatio())
	}
	if ref.data.Labels != nil {
		t := tally.Accuracy().Top1
		m.Top1 = &t
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expose makes the measured tensors graph outputs of m (which it
// changes) and returns the name each is computed under: V_dequantized
// when V was quantized, else V.
func expose(m *graph.Model, tensors []string) (map[string]string, error) {
	if len(tensors) == 0 {
		return nil, nil
	}
	byName := map[string]*graph.Value{}
	for _, n := range m.Graph.Nodes {
		for _, v := range n.Outputs {
			if v != nil {
				byName[v.Name] = v
			}
		}
	}
	for _, v := range m.Graph.Inputs {
		byName[v.Name] = v
	}
	outputs := map[*graph.Value]bool{}
	for _, v := range m.Graph.Outputs {
		outputs[v] = true
	}
	names := map[string]string{}
	for _, name := range tensors {
		v := byName[name]
		if dq := byName[name+"_dequantized"]; dq != nil && dq.Producer != nil && dq.Producer.OpType == "DequantizeLinear" {
			v = dq
		}
		if v == nil {
			return nil, fmt.Errorf("the model computes no tensor %q to measure", name)
		}
		if !outputs[v] {
			m.Graph.Outputs = append(m.Graph.Outputs, v)
			outputs[v] = true
		}
		names[name] = v.Name
	}
	return names, nil
}

// renamed wraps run so that measured tensors appear under their requested
// names.
func renamed(run runFunc, names map[string]string) runFunc {
	if len(names) == 0 {
		return run
	}
	return func(i int, sample map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
		out, err := run(i, sample)
		if err != nil {
			return nil, err
		}
		res := make(map[string]*graph.Tensor, len(out)+len(names))
		for k, t := range out {
			res[k] = t
		}
		for want, got := range names {
			res[want] = out[got]
		}
		return res, nil
	}
}
