package qat

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// checkpoint is the saved state of a run: enough to continue it exactly
// where it stopped (the sample order depends only on seed and epoch).
type checkpoint struct {
	Version   int                    `json:"version"`
	Step      int                    `json:"step"`
	Best      *float64               `json:"best,omitempty"`
	BadEpochs int                    `json:"bad_epochs"`
	Scores    []float64              `json:"scores,omitempty"`
	Bits      BitsStep               `json:"bits"`
	Params    map[string]savedTensor `json:"params"`
	M         map[string][]float32   `json:"m"`
	V         map[string][]float32   `json:"v"`
	T         int                    `json:"t"`
	// Temperature is the loss temperature (chosen automatically at the
	// start when the configuration left it 0).
	Temperature float64 `json:"temperature,omitempty"`
}

// savedTensor is a parameter (float) or a zero point (integer) by value.
type savedTensor struct {
	DType  graph.DType `json:"dtype"`
	Shape  []int64     `json:"shape"`
	Floats []float32   `json:"floats,omitempty"`
	Ints   []int64     `json:"ints,omitempty"`
}

const checkpointVersion = 1

// save writes the current state (initializers must be written back).
func (t *trainer) save(step int, best *float64, bad int, scores []float64) error {
	if t.cfg.CheckpointPath == "" {
		return nil
	}
	ck := checkpoint{Version: checkpointVersion, Step: step, Best: best, BadEpochs: bad, Scores: scores, Bits: t.bits,
		Params: map[string]savedTensor{}, M: t.opt.M, V: t.opt.V, T: t.opt.T, Temperature: t.cfg.Temperature}
	for _, v := range t.stateValues() {
		st := savedTensor{DType: v.Const.DType, Shape: v.Const.Shape}
		if v.Const.DType == graph.Float {
			f, _ := v.Const.Float32s()
			st.Floats = f
		} else {
			n, err := v.Const.Int64s()
			if err != nil {
				return err
			}
			st.Ints = n
		}
		ck.Params[v.Name] = st
	}
	data, err := json.Marshal(ck)
	if err != nil {
		return err
	}
	if err := onnxio.WriteFileAtomic(t.cfg.CheckpointPath, data); err != nil {
		return fmt.Errorf("checkpoint %s: %w", t.cfg.CheckpointPath, err)
	}
	return nil
}

// stateValues lists the initializers a checkpoint holds: trainable values,
// and every scale and zero point (a precision schedule changes them).
func (t *trainer) stateValues() []*graph.Value {
	set := map[*graph.Value]bool{}
	for v := range t.trainable {
		set[v] = true
	}
	for _, fq := range t.tm.FakeQuants {
		if fq.Scale.IsConst() {
			set[fq.Scale] = true
		}
		if fq.Zero.IsConst() {
			set[fq.Zero] = true
		}
	}
	var vs []*graph.Value
	for v := range set {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Name < vs[j].Name })
	return vs
}

func loadCheckpoint(path string) (*checkpoint, error) {
	if path == "" {
		return nil, fmt.Errorf("resume needs a checkpoint path")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var ck checkpoint
	if err := json.Unmarshal(data, &ck); err != nil {
		return nil, fmt.Errorf("resume: %s is not a checkpoint: %w", path, err)
	}
	if ck.Version != checkpointVersion {
		return nil, fmt.Errorf("resume: %s has format version %d, want %d", path, ck.Version, checkpointVersion)
	}
	return &ck, nil
}

// restore puts a checkpoint's values into the model and optimizer.
func (t *trainer) restore(ck *checkpoint) error {
	byName := map[string]*graph.Value{}
	for _, v := range t.stateValues() {
		byName[v.Name] = v
	}
	for name, st := range ck.Params {
		v, ok := byName[name]
		if !ok {
			return fmt.Errorf("resume: the checkpoint has %q, which this model does not train", name)
		}
		var nt *graph.Tensor
		var err error
		if st.DType == graph.Float {
			nt, err = graph.NewTensor(st.DType, st.Shape, st.Floats)
		} else {
			nt, err = graph.IntTensor(st.DType, st.Shape, st.Ints)
		}
		if err != nil {
			return fmt.Errorf("resume: %q: %w", name, err)
		}
		v.Const = nt
	}
	if len(ck.Params) != len(byName) {
		return fmt.Errorf("resume: the checkpoint holds %d values, the model trains %d", len(ck.Params), len(byName))
	}
	t.opt.M, t.opt.V, t.opt.T = ck.M, ck.V, ck.T
	if t.opt.M == nil {
		t.opt.M = map[string][]float32{}
	}
	if t.opt.V == nil {
		t.opt.V = map[string][]float32{}
	}
	// Bit widths: set attributes without rescaling (the saved params are
	// already at these widths).
	for _, fq := range t.tm.FakeQuants {
		bits := ck.Bits.Activations
		if fq.Role == Weight {
			bits = ck.Bits.Weights
		}
		if bits > 0 && fq.Role != Bias {
			fq.Node.SetAttr("bits", int64(bits))
		}
	}
	t.bits = ck.Bits
	return nil
}
