package qat

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/quant"
)

// Optimizer names a parameter update rule.
type Optimizer string

const (
	SGD  Optimizer = "sgd"  // with momentum
	Adam Optimizer = "adam" // Kingma & Ba, with bias correction
)

// Schedule names a learning-rate schedule.
type Schedule string

const (
	Constant Schedule = "constant"
	Cosine   Schedule = "cosine" // from LR to 0 over the run
)

// LossKind names the training objective.
type LossKind string

const (
	// CrossEntropy trains on labels.
	CrossEntropy LossKind = "ce"
	// DistillKL matches the float teacher's softmax (at Temperature).
	DistillKL LossKind = "kl"
	// DistillMSE matches the float teacher's outputs.
	DistillMSE LossKind = "mse"
	// DistillBCE matches the float teacher's outputs as probabilities,
	// element by element (binary cross-entropy): for sigmoid maps such as
	// a text detector's.
	DistillBCE LossKind = "bce"
)

// lossOps is, per loss, the training-domain operator that computes it and
// whether it softens with a temperature.
var lossOps = map[LossKind]struct {
	op       string
	tempered bool
}{
	CrossEntropy: {SoftCrossEntropyOp, true},
	DistillKL:    {SoftCrossEntropyOp, true},
	DistillMSE:   {MeanSquaredErrorOp, false},
	DistillBCE:   {BinaryCrossEntropyOp, false},
}

// BitsStep switches bit widths from an epoch on (precision schedule).
// Zero leaves a width as it is.
type BitsStep struct {
	Epoch       int `json:"epoch"`
	Weights     int `json:"weights"`
	Activations int `json:"activations"`
}

// Config is the typed configuration of a training run.
type Config struct {
	Epochs      int
	MaxSteps    int // stop after this many optimizer steps (0: no limit)
	BatchSize   int
	LR          float64
	Optimizer   Optimizer
	Momentum    float64 // SGD momentum (default 0.9)
	WeightDecay float64
	Schedule    Schedule
	WarmupSteps int
	Seed        uint64
	LearnScales bool
	Loss        LossKind
	// Temperature of the softmax in the ce and kl losses; 0 picks it from
	// the scale of the logits (see autoTemperature).
	Temperature float64
	Bits        []BitsStep
	// Output names the model output that is trained (default: the first).
	Output string
	// CheckpointEvery saves a checkpoint to CheckpointPath every that many
	// steps (and at the end of each epoch); Resume continues from it.
	CheckpointEvery int
	CheckpointPath  string
	Resume          bool
	// Eval, if set, is called after each epoch with the current model (a
	// QDQ model as it would be written) and returns a score to maximize;
	// EarlyStop stops after that many epochs without improvement.
	Eval      func(m *graph.Model) (float64, error)
	EarlyStop int
	Progress  func(Progress)
	// Accumulate trains one sample at a time at the model's own batch size
	// and accumulates gradients over the batch, instead of running the
	// batch at once in a re-batched copy of the model (see batchModel);
	// both compute the same gradient.
	Accumulate bool
	// Context, if set, stops training when it is cancelled; the run then
	// writes a checkpoint (when CheckpointPath is set) and returns.
	Context context.Context
}

// Progress is reported after each optimizer step.
type Progress struct {
	Epoch, Step, StepsPerEpoch int
	Loss                       float64
	SamplesPerSecond           float64
	Score                      *float64 // set after an evaluation
}

// Data is what training reads: inputs, and labels (for CrossEntropy) or
// a float teacher (for distillation).
type Data struct {
	Inputs  dataset.Source
	Labels  []int64
	Teacher *engine.Program
}

// Result summarizes a run.
type Result struct {
	Steps      int       `json:"steps"`
	Epochs     int       `json:"epochs"`
	FinalLoss  float64   `json:"final_loss"`
	Scores     []float64 `json:"scores,omitempty"`
	BestScore  *float64  `json:"best_score,omitempty"`
	ResumedAt  int       `json:"resumed_at_step,omitempty"`
	StoppedBy  string    `json:"stopped_by"`
	Seconds    float64   `json:"seconds"`
	Throughput float64   `json:"samples_per_second"`
	// Rebatched says that batches ran at once in a re-batched copy of the
	// model; Accumulated, why gradients were accumulated per sample
	// instead (empty when Config.Accumulate asked for it).
	Rebatched bool `json:"rebatched"`
	// Temperature is the loss temperature used (chosen when
	// Config.Temperature was 0).
	Temperature float64 `json:"temperature,omitempty"`
	Accumulated string  `json:"accumulated,omitempty"`
	// Lowerings counts the Gorgonia graphs built: one per batch size, and
	// again after each precision change of the schedule and whenever the
	// samples change shape.
	Lowerings int `json:"lowerings"`
	// Frozen are the trainable values kept as they were (see FrozenValue).
	Frozen []FrozenValue `json:"frozen,omitempty"`
}

func (c *Config) defaults() error {
	if c.Epochs <= 0 {
		c.Epochs = 1
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 32
	}
	if c.LR <= 0 {
		c.LR = 1e-4
	}
	if c.Optimizer == "" {
		c.Optimizer = Adam
	}
	if c.Optimizer != SGD && c.Optimizer != Adam {
		return fmt.Errorf("optimizer %q: want sgd or adam", c.Optimizer)
	}
	if c.Momentum == 0 {
		c.Momentum = 0.9
	}
	if c.Schedule == "" {
		c.Schedule = Constant
	}
	if c.Schedule != Constant && c.Schedule != Cosine {
		return fmt.Errorf("schedule %q: want constant or cosine", c.Schedule)
	}
	if c.Loss == "" {
		c.Loss = CrossEntropy
	}
	if c.Temperature < 0 || math.IsNaN(c.Temperature) {
		return fmt.Errorf("temperature %g: want > 0, or 0 for automatic", c.Temperature)
	}
	return nil
}

// trainer holds the state of one run.
type trainer struct {
	tm        *TrainingModel
	cfg       Config
	data      Data
	out       *graph.Value // the trained model output
	loss      *graph.Node
	tgt       *graph.Value // graph input carrying the target
	order     []int
	opt       *optState
	lowered   int // Gorgonia graphs built
	trainable map[*graph.Value]bool
	frozen    map[string]FrozenValue // by name, from every lowering
	bits      BitsStep               // widths currently in force

	// lowerings by batch size (1: the model itself, gradients accumulated
	// sample by sample; n > 1: a re-batched copy), each for the sample
	// shapes it was built for (replaced when they change); cur holds the current
	// parameter values, the others are loaded from the initializers when
	// they take over.
	lowerings  map[int]*lowered
	cur        *lowered
	rebatched  bool  // a re-batched copy was verified and used
	rebatchErr error // why the model trains by accumulation instead
	// re-batched copies of the teacher by batch size
	teachers       map[int]*engine.Program
	teacherChecked bool
	teacherErr     error // why the teacher runs sample by sample
}

// Train fine-tunes tm in place and leaves the trained weights and scales
// in its initializers.
func Train(tm *TrainingModel, data Data, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	n := data.Inputs.Len()
	if n == 0 {
		return nil, fmt.Errorf("the training data has no samples")
	}
	switch cfg.Loss {
	case CrossEntropy:
		if len(data.Labels) != n {
			return nil, fmt.Errorf("training with labels needs one label per sample: %d samples, %d labels", n, len(data.Labels))
		}
	case DistillKL, DistillMSE, DistillBCE:
		if data.Teacher == nil {
			return nil, fmt.Errorf("distillation needs a float teacher model")
		}
	default:
		return nil, fmt.Errorf("loss %q: want ce, kl, mse or bce", cfg.Loss)
	}
	t := &trainer{tm: tm, cfg: cfg, data: data}
	if err := t.pickOutput(); err != nil {
		return nil, err
	}
	var ck *checkpoint
	if cfg.Resume {
		var err error
		if ck, err = loadCheckpoint(cfg.CheckpointPath); err != nil {
			return nil, err
		}
	}
	if lossOps[cfg.Loss].tempered && cfg.Temperature == 0 {
		// Automatic: measured on the model as training starts, or as the
		// interrupted run measured it.
		if ck != nil && ck.Temperature > 0 {
			t.cfg.Temperature = ck.Temperature
		} else {
			temp, err := t.autoTemperature()
			if err != nil {
				return nil, fmt.Errorf("choosing the temperature: %w", err)
			}
			t.cfg.Temperature = temp
		}
		cfg.Temperature = t.cfg.Temperature
	}
	if err := t.addLoss(); err != nil {
		return nil, err
	}
	defer t.removeLoss()
	t.trainable = map[*graph.Value]bool{}
	for _, w := range tm.Weights {
		t.trainable[w] = true
	}
	if cfg.LearnScales {
		for _, fq := range tm.FakeQuants {
			if fq.Role == Bias {
				continue // its scale is input scale x weight scale
			}
			fq.Node.SetAttr("lsq", int64(1))
			if fq.Scale.IsConst() {
				t.trainable[fq.Scale] = true
			}
		}
	}
	t.opt = newOptState()
	res := &Result{StoppedBy: "epochs", Temperature: t.cfg.Temperature}
	if !lossOps[cfg.Loss].tempered {
		res.Temperature = 0
	}
	stepsPerEpoch := (n + cfg.BatchSize - 1) / cfg.BatchSize
	startStep := 0
	var best *float64
	badEpochs := 0
	if ck != nil {
		if err := t.restore(ck); err != nil {
			return nil, err
		}
		startStep = ck.Step
		res.ResumedAt = startStep
		best = ck.Best
		badEpochs = ck.BadEpochs
		res.Scores = ck.Scores
	}
	started := time.Now()
	samples := 0
	step := startStep
	for epoch := step / stepsPerEpoch; epoch < cfg.Epochs; epoch++ {
		// Bit widths, scales and zero points are read at lowering: an epoch
		// that changes the widths starts with fresh lowerings (the trained
		// values were written back at the end of the last epoch, before
		// applyBits rescales them). Lowering only then keeps one lowering
		// per batch size alive for the whole run (a PP-OCR lowering at
		// 640x640 holds gigabytes).
		changed, err := t.applyBits(epoch)
		if err != nil {
			return nil, err
		}
		if changed {
			t.dropLowerings()
		}
		t.order = epochOrder(cfg.Seed, epoch, n)
		for s := step % stepsPerEpoch; s < stepsPerEpoch; s++ {
			if cfg.MaxSteps > 0 && step >= cfg.MaxSteps {
				res.StoppedBy = "max-steps"
				break
			}
			if cfg.Context != nil && cfg.Context.Err() != nil {
				res.StoppedBy = "cancelled"
				break
			}
			batch := t.order[s*cfg.BatchSize : min((s+1)*cfg.BatchSize, n)]
			loss, err := t.step(batch, step, stepsPerEpoch*cfg.Epochs)
			if err != nil {
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
			}
			step++
			samples += len(batch)
			res.FinalLoss = loss
			if cfg.Progress != nil {
				cfg.Progress(Progress{Epoch: epoch, Step: step, StepsPerEpoch: stepsPerEpoch, Loss: loss, SamplesPerSecond: float64(samples) / time.Since(started).Seconds()})
			}
			if cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0 && s+1 < stepsPerEpoch {
				t.writeBack()
				if err := t.save(step, best, badEpochs, res.Scores); err != nil {
					return nil, err
				}
			}
		}
		t.writeBack()
		if res.StoppedBy != "epochs" {
			// Stopped early: the checkpoint continues exactly here.
			if cfg.CheckpointPath != "" {
				if err := t.save(step, best, badEpochs, res.Scores); err != nil {
					return nil, err
				}
			}
			break
		}
		res.Epochs = epoch + 1
		if cfg.Eval != nil {
			score, err := t.evaluate()
			if err != nil {
				return nil, fmt.Errorf("evaluation after epoch %d: %w", epoch, err)
			}
			res.Scores = append(res.Scores, score)
			if cfg.Progress != nil {
				cfg.Progress(Progress{Epoch: epoch, Step: step, StepsPerEpoch: stepsPerEpoch, Loss: res.FinalLoss, Score: &score})
			}
			if best == nil || score > *best {
				b := score
				best, badEpochs = &b, 0
			} else {
				badEpochs++
			}
		}
		if cfg.CheckpointPath != "" {
			if err := t.save(step, best, badEpochs, res.Scores); err != nil {
				return nil, err
			}
		}
		if cfg.EarlyStop > 0 && badEpochs >= cfg.EarlyStop {
			res.StoppedBy = "early-stop"
			break
		}
	}
	res.Steps = step
	res.Lowerings = t.lowered
	res.Frozen = t.frozenValues()
	res.BestScore = best
	res.Rebatched = t.rebatchErr == nil && t.rebatched
	if t.rebatchErr != nil {
		res.Accumulated = t.rebatchErr.Error()
	}
	res.Seconds = time.Since(started).Seconds()
	if res.Seconds > 0 {
		res.Throughput = float64(samples) / res.Seconds
	}
	return res, nil
}

// epochOrder is the sample order of an epoch: a permutation that depends
// only on the seed and the epoch, so a resumed run sees the same order.
func epochOrder(seed uint64, epoch, n int) []int {
	r := rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15))
	return r.Perm(n)
}

// pickOutput finds the trained output.
func (t *trainer) pickOutput() error {
	g := t.tm.Model.Graph
	if len(g.Outputs) == 0 {
		return fmt.Errorf("the model has no outputs")
	}
	t.out = g.Outputs[0]
	if t.cfg.Output != "" {
		t.out = nil
		for _, o := range g.Outputs {
			if o.Name == t.cfg.Output {
				t.out = o
			}
		}
		if t.out == nil {
			return fmt.Errorf("the model has no output %q", t.cfg.Output)
		}
	}
	return nil
}

// addLoss appends the loss node (and the target input) to the main graph.
func (t *trainer) addLoss() error {
	g := t.tm.Model.Graph
	nm := graph.NewNamer(g)
	t.tgt = &graph.Value{Name: nm.Name("onnxq_training_target"), Graph: g}
	if dims, ok := t.out.Shape(); ok {
		t.tgt.Type = graph.TensorType(graph.Float, dims)
	}
	g.Inputs = append(g.Inputs, t.tgt)
	lo := lossOps[t.cfg.Loss]
	attrs := map[string]any{}
	if lo.tempered {
		attrs["temperature"] = float32(t.cfg.Temperature)
	}
	t.loss = g.NewNode(nm, lo.op, Domain, []*graph.Value{t.out, t.tgt}, []string{"onnxq_training_loss"}, attrs)
	g.Outputs = append(g.Outputs, t.loss.Outputs[0])
	return nil
}

func (t *trainer) removeLoss() {
	g := t.tm.Model.Graph
	g.Inputs = g.Inputs[:len(g.Inputs)-1]
	g.Outputs = g.Outputs[:len(g.Outputs)-1]
	g.RemoveNodes(map[*graph.Node]bool{t.loss: true})
}

// targets computes the targets of samples (indices batch): a one-hot row
// per label, or the teacher's outputs (softened for KL) for distillation.
func (t *trainer) targets(batch []int, samples []map[string]*graph.Tensor) ([]*graph.Tensor, error) {
	out := make([]*graph.Tensor, len(batch))
	if t.cfg.Loss == CrossEntropy {
		for k, i := range batch {
			var err error
			if out[k], err = t.oneHot(i); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	ys, err := t.teacherOutputs(samples)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	for k, y := range ys {
		if out[k], err = t.soften(y); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// oneHot is the target row of sample i's label.
func (t *trainer) oneHot(i int) (*graph.Tensor, error) {
	dims, _ := t.out.Shape()
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	c := dims[len(dims)-1]
	if n != c {
		return nil, fmt.Errorf("labels train a single-row output; %q has shape %v", t.out.Name, dims)
	}
	lab := t.data.Labels[i]
	if lab < 0 || lab >= c {
		return nil, fmt.Errorf("label %d of sample %d is outside the %d classes", lab, i, c)
	}
	oh := make([]float32, c)
	oh[lab] = 1
	return graph.NewTensor(graph.Float, dims, oh)
}

// soften turns a teacher output into the loss target: as it is for MSE
// and BCE, softmax(y / T) for KL.
func (t *trainer) soften(y *graph.Tensor) (*graph.Tensor, error) {
	if !lossOps[t.cfg.Loss].tempered {
		return y, nil
	}
	z, err := y.Float32s()
	if err != nil {
		return nil, err
	}
	c := int(y.Shape[len(y.Shape)-1])
	p := make([]float32, len(z))
	ls := make([]float64, c)
	for r := 0; r < len(z)/c; r++ {
		logSoftmax(z[r*c:(r+1)*c], t.cfg.Temperature, ls)
		for k := 0; k < c; k++ {
			p[r*c+k] = float32(math.Exp(ls[k]))
		}
	}
	return graph.NewTensor(graph.Float, y.Shape, p)
}

func (t *trainer) isScale(v *graph.Value) bool {
	for _, fq := range t.tm.FakeQuants {
		if fq.Scale == v {
			return true
		}
	}
	return false
}

func (t *trainer) lr(step, total int) float64 {
	lr := t.cfg.LR
	if t.cfg.WarmupSteps > 0 && step < t.cfg.WarmupSteps {
		return lr * float64(step+1) / float64(t.cfg.WarmupSteps)
	}
	if t.cfg.Schedule == Cosine && total > t.cfg.WarmupSteps {
		p := float64(step-t.cfg.WarmupSteps) / float64(total-t.cfg.WarmupSteps)
		return lr * 0.5 * (1 + math.Cos(math.Pi*p))
	}
	return lr
}

// applyBits sets the bit widths in force at an epoch: FakeQuant nodes get
// the width and their scale and zero point are recomputed to cover the
// same real range with the new number of levels. It reports whether any
// width changed (the lowerings then no longer match the model).
func (t *trainer) applyBits(epoch int) (changed bool, err error) {
	want := t.bits
	for _, b := range t.cfg.Bits {
		if b.Epoch <= epoch {
			if b.Weights > 0 {
				want.Weights = b.Weights
			}
			if b.Activations > 0 {
				want.Activations = b.Activations
			}
		}
	}
	if want == t.bits {
		return false, nil
	}
	seen := map[*graph.Value]bool{}
	for _, fq := range t.tm.FakeQuants {
		bits := want.Activations
		if fq.Role == Weight {
			bits = want.Weights
		}
		if fq.Role == Bias || bits == 0 || int(fq.Node.AttrInt("bits", 0)) == bits {
			continue
		}
		if bits < 2 || bits > fq.Zero.ElemType().Bits() {
			return false, fmt.Errorf("node %s: cannot train at %d bits with a %s zero point", fq.Node.Label(), bits, fq.Zero.ElemType())
		}
		if !seen[fq.Scale] {
			seen[fq.Scale] = true
			if err := rescale(fq, bits); err != nil {
				return false, err
			}
		}
		fq.Node.SetAttr("bits", int64(bits))
	}
	t.bits = want
	return true, nil
}

// rescale recomputes a FakeQuant's scale and zero point for a new width,
// keeping the real range its current params cover.
func rescale(fq *FakeQuantInfo, bits int) error {
	s, err := fq.Scale.Const.Float32s()
	if err != nil {
		return err
	}
	z, err := fq.Zero.Const.Int64s()
	if err != nil {
		return err
	}
	oldMin, oldMax := fq.Zero.ElemType().IntRange()
	if b := fq.Node.AttrInt("bits", 0); b > 0 {
		oldMin, oldMax = bitRange(int(b), oldMin < 0)
	}
	qmin, qmax := bitRange(bits, oldMin < 0)
	ns := make([]float32, len(s))
	zs := make([]int64, len(s))
	for k := range s {
		lo := float64(s[k]) * float64(oldMin-z[k])
		hi := float64(s[k]) * float64(oldMax-z[k])
		symmetric := z[k] == 0 && oldMin < 0
		p := paramsInRange(lo, hi, qmin, qmax, symmetric)
		ns[k], zs[k] = p.Scale, p.ZeroPoint
	}
	nz, err := graph.IntTensor(fq.Zero.ElemType(), fq.Zero.Const.Shape, zs)
	if err != nil {
		return fmt.Errorf("node %s: %w", fq.Node.Label(), err)
	}
	fq.Scale.Const = graph.MustTensor(graph.Float, fq.Scale.Const.Shape, ns)
	fq.Zero.Const = nz
	return nil
}

func bitRange(bits int, signed bool) (int64, int64) {
	if signed {
		return -(1 << (bits - 1)), 1<<(bits-1) - 1
	}
	return 0, 1<<bits - 1
}

// paramsInRange is quant.ParamsFor for an explicit integer range.
func paramsInRange(lo, hi float64, qmin, qmax int64, symmetric bool) quant.Params {
	if symmetric {
		absmax := math.Max(-lo, hi)
		s := absmax / float64(qmax)
		if s <= 0 {
			s = 1
		}
		return quant.Params{Scale: float32(s)}
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	s := (hi - lo) / float64(qmax-qmin)
	if s <= 0 {
		return quant.Params{Scale: 1, ZeroPoint: qmin}
	}
	zp := int64(math.RoundToEven(float64(qmin) - lo/float64(float32(s))))
	zp = max(qmin, min(qmax, zp))
	return quant.Params{Scale: float32(s), ZeroPoint: zp}
}

// evaluate scores a copy of the current model in its QDQ form.
func (t *trainer) evaluate() (float64, error) {
	t.removeLoss()
	defer func() { _ = t.readdLoss() }()
	return t.cfg.Eval(t.tm.Model)
}

func (t *trainer) readdLoss() error {
	g := t.tm.Model.Graph
	g.Inputs = append(g.Inputs, t.tgt)
	g.Nodes = append(g.Nodes, t.loss)
	g.Outputs = append(g.Outputs, t.loss.Outputs[0])
	return nil
}

func valueData(v G.Value) []float32 {
	switch x := v.(type) {
	case *tensor.Dense:
		return x.Data().([]float32)
	case *G.F32:
		return []float32{float32(*x)}
	}
	panic(fmt.Sprintf("qat: unexpected value %T", v))
}

func scalarOf(v G.Value) float64 {
	switch x := v.(type) {
	case *G.F32:
		return float64(*x)
	case *tensor.Dense:
		switch d := x.Data().(type) {
		case float32:
			return float64(d)
		case []float32:
			return float64(d[0])
		}
	}
	return math.NaN()
}
