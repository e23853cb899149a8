package qat

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// batchModel returns a copy of m that runs b samples at once: every graph
// input fed with a leading dimension of 1 (the model's fixed batch) gets
// b there, and every Reshape whose constant target shape starts with 1
// starts with b instead (mnist-7 flattens with Reshape to [1, 256]). The
// copy is only a candidate: checkBatched verifies that it computes, row
// by row, what m computes sample by sample, because a graph can tie its
// batch to 1 in ways this rewrite does not see.
func batchModel(m *graph.Model, sample map[string]*graph.Tensor, b int) (*graph.Model, error) {
	c, err := CloneModel(m)
	if err != nil {
		return nil, err
	}
	g := c.Graph
	for _, v := range g.Inputs {
		t, fed := sample[v.Name]
		if !fed {
			continue
		}
		if t.Rank() == 0 || t.Shape[0] != 1 {
			return nil, fmt.Errorf("input %q has shape %v, not a leading batch of 1", v.Name, t.Shape)
		}
		dims := append([]int64{int64(b)}, t.Shape[1:]...)
		v.Type = graph.TensorType(t.DType, dims)
	}
	nm := graph.NewNamer(g)
	for _, n := range g.Nodes {
		if n.OpType != "Reshape" || (n.Domain != "" && n.Domain != "ai.onnx") {
			continue
		}
		s := n.Input(1)
		if !s.IsConst() || s.Const.DType != graph.Int64 || s.Const.Len() == 0 {
			continue
		}
		dims := append([]int64{}, s.Const.Data.([]int64)...)
		if dims[0] != 1 {
			continue
		}
		dims[0] = int64(b)
		n.Inputs[1] = g.AddInitializer(nm, s.Name+"_batch", graph.MustTensor(graph.Int64, s.Const.Shape, dims))
	}
	pruneUnused(c)
	return c, nil
}

// stackSamples joins samples (each with a leading batch of 1) along their
// first axis.
func stackSamples(samples []map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	out := map[string]*graph.Tensor{}
	for name := range samples[0] {
		parts := make([]*graph.Tensor, len(samples))
		for k, s := range samples {
			t, ok := s[name]
			if !ok {
				return nil, fmt.Errorf("sample %d has no %q", k, name)
			}
			parts[k] = t
		}
		st, err := dataset.Stack(parts)
		if err != nil {
			return nil, fmt.Errorf("joining %q: %w", name, err)
		}
		shape := append([]int64{int64(len(parts)) * parts[0].Shape[0]}, parts[0].Shape[1:]...)
		if out[name], err = graph.NewTensor(st.DType, shape, st.Data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// batchTolerance bounds the relative L2 difference between the batched
// copy's output rows and the per-sample outputs. Row-by-row equal models
// differ by float summation order at most (and, rarely, by one
// quantization step of an activation whose value sat on a rounding
// boundary: ~1e-3 of mnist-7's logits); a model that mixes samples or
// ignores the batch differs by O(1).
const batchTolerance = 1e-2

// checkBatched runs the batched copy on feeds (one per sample) and
// compares each output row with what single runs of m give.
func checkBatched(m, batched *graph.Model, feeds []map[string]*graph.Tensor, output string) error {
	single, err := engine.Compile(m)
	if err != nil {
		return err
	}
	multi, err := engine.Compile(batched)
	if err != nil {
		return err
	}
	joined, err := stackSamples(feeds)
	if err != nil {
		return err
	}
	res, err := multi.Run(joined, nil)
	if err != nil {
		return fmt.Errorf("running %d samples at once: %w", len(feeds), err)
	}
	got, err := res[output].Float32s()
	if err != nil {
		return err
	}
	var want []float32
	for k, f := range feeds {
		r, err := single.Run(f, nil)
		if err != nil {
			return fmt.Errorf("sample %d: %w", k, err)
		}
		w, err := r[output].Float32s()
		if err != nil {
			return err
		}
		want = append(want, w...)
	}
	if len(got) != len(want) {
		return fmt.Errorf("output %q has %d values for %d samples, want %d", output, len(got), len(feeds), len(want))
	}
	var num, den float64
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if rel := math.Sqrt(num / math.Max(den, 1e-30)); !(rel <= batchTolerance) {
		return fmt.Errorf("output %q of %d samples at once differs from single runs (relative error %.3g)", output, len(feeds), rel)
	}
	return nil
}

// teacherOutputs runs the teacher on samples and returns its output for
// each: at once in a re-batched copy of the teacher (verified once, as
// the training model's copy is), or one by one.
func (t *trainer) teacherOutputs(samples []map[string]*graph.Tensor) ([]*graph.Tensor, error) {
	teacher := t.data.Teacher
	n := len(samples)
	if n > 1 && !t.cfg.Accumulate && t.teacherErr == nil {
		prog := t.teachers[n]
		if prog == nil {
			bm, err := batchModel(teacher.Model, samples[0], n)
			if err == nil && !t.teacherChecked {
				err = checkBatched(teacher.Model, bm, samples, t.out.Name)
			}
			if err == nil {
				prog, err = engine.Compile(bm)
			}
			if err != nil {
				t.teacherErr = err
			} else {
				if t.teachers == nil {
					t.teachers = map[int]*engine.Program{}
				}
				t.teachers[n], t.teacherChecked = prog, true
			}
		}
		if prog != nil {
			joined, err := stackSamples(samples)
			if err != nil {
				return nil, err
			}
			outs, err := prog.Run(joined, nil)
			if err != nil {
				return nil, err
			}
			return splitOutput(outs[t.out.Name], n, t.out.Name)
		}
	}
	ys := make([]*graph.Tensor, n)
	for k, s := range samples {
		outs, err := teacher.Run(s, nil)
		if err != nil {
			return nil, err
		}
		y, ok := outs[t.out.Name]
		if !ok {
			return nil, fmt.Errorf("the teacher has no output %q", t.out.Name)
		}
		ys[k] = y
	}
	return ys, nil
}

// splitOutput cuts a batched output [n*k, ...] into n tensors [k, ...].
func splitOutput(y *graph.Tensor, n int, name string) ([]*graph.Tensor, error) {
	if y == nil {
		return nil, fmt.Errorf("the teacher has no output %q", name)
	}
	f, err := y.Float32s()
	if err != nil {
		return nil, err
	}
	if y.Rank() == 0 || int(y.Shape[0])%n != 0 {
		return nil, fmt.Errorf("teacher output %q has shape %v for %d samples", name, y.Shape, n)
	}
	shape := append([]int64{y.Shape[0] / int64(n)}, y.Shape[1:]...)
	size := len(f) / n
	out := make([]*graph.Tensor, n)
	for k := range out {
		out[k] = graph.MustTensor(graph.Float, shape, f[k*size:(k+1)*size])
	}
	return out, nil
}
