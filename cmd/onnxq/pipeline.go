package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/qat"
	"github.com/onnxq/onnxq/rewrite"
	"github.com/onnxq/onnxq/tune"
)

// quantizeDefaults are quantize's fine-tuning settings when no flag sets
// them, in one place. A step is one optimizer step (one batch). Measured:
// on mnist-7 they keep top-1 and add 0.2-0.3 dB of output SQNR; on
// PP-OCRv4 det calibrated on 5 photos no learning rate or loss tried
// (1e-6 to 1e-5; mse, bce, feature mse) improved other photos, and the
// judge keeps the PTQ model (docs/bench-vs-ort.md).
var quantizeDefaults = struct {
	// Loss is the distillation loss against the float model's outputs,
	// unless the operator that computes the first output has one in
	// LossByOutputOp (a sigmoid map is matched as probabilities).
	Loss           qat.LossKind
	LossByOutputOp map[string]qat.LossKind
	LR             float64 // Adam's learning rate
	// Steps is how many optimizer steps run when neither
	// --finetune-steps nor --finetune-epochs is given: the epochs are
	// chosen to cover them.
	Steps int
	// BatchSmall is the batch size of models whose inputs are at most
	// LargeInput pixels; BatchLarge that of larger ones, whose samples
	// run one by one with gradients accumulated when AccumulateLarge is
	// set (a re-batched copy of a 640x640 detector holds gigabytes).
	BatchSmall, BatchLarge int
	AccumulateLarge        bool
	// LargeInput is the size, in pixels (the product of the two largest
	// dimensions of a sample's biggest input, the batch axis left out),
	// above which an input is large: 64x64.
	LargeInput  int64
	LearnScales bool
	Seed        uint64 // of the sample order
}{
	Loss:            qat.DistillMSE,
	LossByOutputOp:  map[string]qat.LossKind{"Sigmoid": qat.DistillBCE},
	LR:              1e-5,
	Steps:           150,
	BatchSmall:      32,
	BatchLarge:      1,
	AccumulateLarge: true,
	LargeInput:      64 * 64,
	LearnScales:     false,
	Seed:            1,
}

// quantizeTargets maps quantize's --target to the runtime profile PTQ
// quantizes for; the export target is --target itself. onnx (standard
// ONNX, no runtime's workarounds) quantizes with the default profile.
var quantizeTargets = map[string]ptq.Target{"ort": ptq.ORT, "tensorrt": ptq.TensorRT, "onnx": ptq.ORT}

// distillLosses are the losses --finetune-loss accepts.
var distillLosses = map[string]qat.LossKind{"mse": qat.DistillMSE, "kl": qat.DistillKL, "bce": qat.DistillBCE}

// finetuneOnlyFlags are the flags that --no-finetune makes pointless.
var finetuneOnlyFlags = []string{"train", "finetune-epochs", "finetune-steps", "finetune-lr", "finetune-batch-size", "finetune-loss", "learn-scales"}

// searchOnlyFlags are the budget flags that need a budget in quantize
// (--eval and --engine serve the final measurement as well).
var searchOnlyFlags = []string{"precisions", "save-config", "html", "sensitivity-samples"}

// quantizeCommand is 'onnxq quantize', the whole job in one command: PTQ
// exactly as insert-qdq (budget search included), label-free distillation
// from the float model through finetune's training, both candidates
// exported as export does and measured against the float model, and the
// better one written.
func quantizeCommand() *cli.Command {
	d := quantizeDefaults
	flags := ptqFlags("the deployable quantized model to write (atomically)",
		"`FILE.json` for the report: the --json summary plus the PTQ report (ranges, scales, node decisions; with a budget, the search)")
	flags = optionalFlag(withoutFlags(flags, "target"), "calib")
	flags = append(flags,
		&cli.StringFlag{Name: "target", Value: "ort", Usage: "runtime: ort (U8S8 profile, export for ONNX Runtime), tensorrt (symmetric int8 profile, checked) or onnx (default profile, standard ONNX types)"},
		&cli.StringFlag{Name: "train", Usage: "fine-tuning samples, read like --calib (with its --preprocess, without --limit/--offset; default: the calibration samples)"},
		&cli.IntFlag{Name: "finetune-epochs", Usage: "passes over the fine-tuning samples (default: as many as --finetune-steps needs)"},
		&cli.IntFlag{Name: "finetune-steps", Usage: fmt.Sprintf("most optimizer steps (default %d when --finetune-epochs is not given)", d.Steps)},
		&cli.Float64Flag{Name: "finetune-lr", Value: d.LR, Usage: "learning rate (Adam)"},
		&cli.IntFlag{Name: "finetune-batch-size", Usage: fmt.Sprintf("samples per optimizer step (default %d; %d, run one by one, for inputs larger than 64x64 pixels)", d.BatchSmall, d.BatchLarge)},
		&cli.StringFlag{Name: "finetune-loss", Value: "auto", Usage: "distillation loss against the float model's outputs: auto (bce when the first output is a Sigmoid's, else mse), mse, kl or bce (outputs that are probabilities, e.g. a sigmoid map)"},
		&cli.BoolFlag{Name: "learn-scales", Value: d.LearnScales, Usage: "train the quantization scales too (LSQ)"},
		&cli.BoolFlag{Name: "no-finetune", Usage: "skip the fine-tuning: measure and export the PTQ model"},
	)
	flags = append(flags, budgetFlags()...)
	return &cli.Command{
		Name:      "quantize",
		Usage:     "the whole job: PTQ, label-free fine-tuning from the float model, keep the better, export",
		ArgsUsage: "MODEL",
		Description: "1. PTQ exactly as 'insert-qdq' with the same flags (with --max-drop or --min-sqnr, its\n" +
			"   mixed-precision budget search).\n" +
			"2. Fine-tuning as 'finetune --teacher MODEL': the float model's outputs are the targets,\n" +
			"   no labels needed, on the calibration samples (or --train).\n" +
			"3. Both candidates are exported as 'export --target' does and run with the float model\n" +
			"   on the evaluation data (--eval; default: the last fifth of the calibration samples,\n" +
			"   held out of step 2 unless --train is given) on --engine: SQNR of\n" +
			"   every output (or --measure tensor) and, with labels, top-1. The fine-tuned model is\n" +
			"   kept unless its top-1 (with labels) or mean SQNR (without) is lower than PTQ's.\n" +
			"4. The kept model is written to -o atomically; the input is never changed.",
		Flags:  flags,
		Action: quantizeAction,
	}
}

// optionalFlag makes the string flag called name optional (the action
// checks it, with a clearer message than the parser's).
func optionalFlag(flags []cli.Flag, name string) []cli.Flag {
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == name {
			c := *sf
			c.Required = false
			flags[i] = &c
		}
	}
	return flags
}

// quantizeResult is what `onnxq quantize --json` prints (keys in
// docs/cli.md).
type quantizeResult struct {
	Model  string `json:"model"`
	Output string `json:"output"`
	// Kept is the candidate written: "finetuned" or "ptq"; Why says why.
	Kept    string         `json:"kept"`
	Why     string         `json:"why"`
	Seconds float64        `json:"seconds"`
	Stages  quantizeStages `json:"stages"`
}

// quantizeStages are the stages in the order they run.
type quantizeStages struct {
	PTQ      ptqStage       `json:"ptq"`
	Finetune *finetuneStage `json:"finetune"` // null with --no-finetune
	Export   exportStage    `json:"export"`
	Measure  measureStage   `json:"measure"`
}

type ptqStage struct {
	Seconds   float64 `json:"seconds"`
	Data      string  `json:"data"`
	Samples   int     `json:"calibration_samples"`
	Method    string  `json:"method"`
	Target    string  `json:"target"`
	Opset     int64   `json:"opset"`
	Quantized int     `json:"nodes_quantized"`
	Float     int     `json:"nodes_float"`
	Tensors   int     `json:"tensors_qdq"`
	BiasFixes int     `json:"bias_fixes"`
	// Budget and Chosen describe a budget search (empty without one).
	Budget string `json:"budget,omitempty"`
	Chosen string `json:"chosen,omitempty"`
	Config string `json:"config_file,omitempty"`
}

type finetuneStage struct {
	Seconds     float64     `json:"seconds"`
	Data        string      `json:"data"`
	Samples     int         `json:"samples"`
	Loss        string      `json:"loss"`
	LR          float64     `json:"lr"`
	BatchSize   int         `json:"batch_size"`
	Accumulate  bool        `json:"accumulate"`
	LearnScales bool        `json:"learn_scales"`
	Epochs      int         `json:"epochs"`
	MaxSteps    int         `json:"max_steps"`
	Training    *qat.Result `json:"training"`
	// Skipped says why no fine-tuned candidate was made although
	// fine-tuning was asked for (nothing in the model can be trained).
	Skipped string `json:"skipped,omitempty"`
}

type exportStage struct {
	Seconds float64 `json:"seconds"`
	Target  string  `json:"target"`
	// Log is the kept model's export passes.
	Log   []rewrite.Entry `json:"log"`
	Bytes int64           `json:"output_bytes"`
	Opset int64           `json:"opset"`
}

type measureStage struct {
	Seconds float64 `json:"seconds"`
	Data    string  `json:"data"`
	Samples int     `json:"samples"`
	Engine  string  `json:"engine"`
	// Criterion is what decides: "top1" (labelled data), "bernoulli_kl"
	// (outputs that are probabilities, distilled with bce) or "mean_sqnr".
	Criterion string   `json:"criterion"`
	Float     figures  `json:"float"`
	PTQ       figures  `json:"ptq"`
	Finetuned *figures `json:"finetuned,omitempty"`
}

// figures are one model's measurements on the evaluation data: top-1 with
// labels, and for a quantized model the SQNR of every measured tensor
// against the float model's, their mean and lowest.
type figures struct {
	Top1     *float64  `json:"top1,omitempty"`
	MeanSQNR *tune.Num `json:"mean_sqnr_db,omitempty"`
	// MeanKL is the mean Bernoulli KL divergence of the candidate's
	// measured tensors from the float model's, element by element, when
	// they are probabilities (a sigmoid map, distilled with bce).
	MeanKL *float64 `json:"mean_bernoulli_kl,omitempty"`
	// Positives counts, for the float model with probabilities, the
	// measured elements above 0.5: with none, the data cannot show
	// whether a candidate keeps what the model detects.
	Positives *int                       `json:"positive_elements,omitempty"`
	MinSQNR   *tune.Num                  `json:"min_sqnr_db,omitempty"`
	Tensors   map[string]tune.ErrorStats `json:"tensors,omitempty"`
}

// quantizeReport is the --report JSON.
type quantizeReport struct {
	*quantizeResult
	// PTQReport is insert-qdq's report (its budget report with a budget).
	PTQReport any `json:"ptq_report"`
}

// finetunePlan is the fine-tuning configuration the flags and defaults
// give.
type finetunePlan struct {
	Loss        qat.LossKind
	LR          float64
	Epochs      int // 0: chosen from Steps
	Steps       int // 0: no limit
	Batch       int // 0: by input size
	LearnScales bool
}

// finetuneFlags reads and checks the fine-tuning flags (nil with
// --no-finetune).
func finetuneFlags(c *cli.Context) (*finetunePlan, error) {
	if c.Bool("no-finetune") {
		for _, f := range finetuneOnlyFlags {
			if c.IsSet(f) {
				return nil, userErrorf("--%s applies to fine-tuning, which --no-finetune skips", f)
			}
		}
		return nil, nil
	}
	loss, ok := distillLosses[c.String("finetune-loss")]
	if !ok && c.String("finetune-loss") != "auto" {
		return nil, userErrorf("--finetune-loss %q: want auto, mse, kl or bce", c.String("finetune-loss"))
	}
	p := &finetunePlan{Loss: loss, LR: c.Float64("finetune-lr"), Epochs: c.Int("finetune-epochs"),
		Steps: c.Int("finetune-steps"), Batch: c.Int("finetune-batch-size"), LearnScales: c.Bool("learn-scales")}
	if !(p.LR > 0) || math.IsInf(p.LR, 0) {
		return nil, userErrorf("--finetune-lr %g: want > 0", p.LR)
	}
	for name, v := range map[string]int{"finetune-epochs": p.Epochs, "finetune-steps": p.Steps, "finetune-batch-size": p.Batch} {
		if v < 0 || c.IsSet(name) && v == 0 {
			return nil, userErrorf("--%s %d: want > 0", name, v)
		}
	}
	if p.Epochs == 0 && p.Steps == 0 {
		p.Steps = quantizeDefaults.Steps
	}
	return p, nil
}

// config is the qat.Config of the plan for n samples whose first is
// sample.
func (p *finetunePlan) config(n int, sample map[string]*graph.Tensor) qat.Config {
	d := quantizeDefaults
	cfg := qat.Config{Loss: p.Loss, LR: p.LR, LearnScales: p.LearnScales, Optimizer: qat.Adam, Seed: d.Seed,
		BatchSize: p.Batch, MaxSteps: p.Steps, Epochs: p.Epochs}
	large := inputPixels(sample) > d.LargeInput
	if cfg.BatchSize == 0 {
		cfg.BatchSize = d.BatchSmall
		if large {
			cfg.BatchSize = d.BatchLarge
		}
	}
	cfg.Accumulate = large && d.AccumulateLarge
	if cfg.Epochs == 0 {
		perEpoch := (n + cfg.BatchSize - 1) / cfg.BatchSize
		cfg.Epochs = (cfg.MaxSteps + perEpoch - 1) / perEpoch
	}
	return cfg
}

// autoLoss is the distillation loss for m when none is asked for: by the
// operator computing its first output (quantizeDefaults.LossByOutputOp).
func autoLoss(m *graph.Model) qat.LossKind {
	if outs := m.Graph.Outputs; len(outs) > 0 && outs[0].Producer != nil {
		if l, ok := quantizeDefaults.LossByOutputOp[outs[0].Producer.OpType]; ok {
			return l
		}
	}
	return quantizeDefaults.Loss
}

// inputPixels is the size of a sample's biggest input in pixels: the
// product of its two largest dimensions, the first (batch) axis left out.
func inputPixels(sample map[string]*graph.Tensor) int64 {
	var most int64
	for _, t := range sample {
		var dims []int64
		if len(t.Shape) > 1 {
			dims = slices.Clone(t.Shape[1:])
		}
		slices.Sort(dims)
		px := int64(1)
		for _, d := range dims[max(len(dims)-2, 0):] {
			px *= d
		}
		most = max(most, px)
	}
	return most
}

// pipeline is one quantize run: what the flags and files give, checked
// before any work, and what each stage leaves for the next.
type pipeline struct {
	c               *cli.Context
	start           time.Time
	in, out, target string
	where           string // names the model and its calibration data in errors
	cfg             ptq.Config
	budget          *tune.Budget // nil without --max-drop / --min-sqnr
	precs           []tune.Precision
	plan            *finetunePlan // nil with --no-finetune
	model, float    *graph.Model  // the model PTQ quantizes in place; the float model as given
	calib, train    dataset.Source
	eval            tune.EvalData // the budget search's evaluation data
	judge           tune.EvalData // what the candidates are measured on
	backend         tune.Backend
	br              *budgetRun
	ptqReport       any
	cands           []*graph.Model // exported candidates: PTQ, fine-tuned
	logs            []*rewrite.Log
	kept            int
	exportSeconds   float64
	res             *quantizeResult
}

func quantizeAction(c *cli.Context) error {
	p, err := newPipeline(c)
	if err != nil {
		return err
	}
	for _, stage := range []func() error{p.quantize, p.finetune, p.exportAll, p.measure, p.write} {
		if err := stage(); err != nil {
			return err
		}
	}
	return writeResult(c, p.res, func(c *cli.Context) error { return p.res.writeText(c.App.Writer) })
}

// newPipeline checks the flags, loads the model and opens the data.
func newPipeline(c *cli.Context) (*pipeline, error) {
	p := &pipeline{c: c, start: time.Now()}
	m, in, err := loadModelArg(c)
	if err != nil {
		return nil, err
	}
	p.model, p.in, p.out = m, in, c.String("output")
	if len(m.Graph.Outputs) == 0 {
		// Nothing to measure a candidate by, nor to fine-tune.
		return nil, userErrorf("%s declares no graph outputs: quantize measures and fine-tunes a model by its outputs; list them in the graph's output field", in)
	}
	if c.String("calib") == "" {
		return nil, userErrorf("quantize needs --calib DATA, the calibration samples; see 'onnxq quantize --help'")
	}
	p.target = c.String("target")
	profile, ok := quantizeTargets[p.target]
	if !ok {
		return nil, userErrorf("--target %q: want ort, tensorrt or onnx", p.target)
	}
	if p.plan, err = finetuneFlags(c); err != nil {
		return nil, err
	}
	if err := p.budgetFlags(); err != nil {
		return nil, err
	}
	if p.cfg, err = quantConfigFor(c, profile); err != nil {
		return nil, err
	}
	if p.budget != nil {
		if err := budgetBits(p.cfg); err != nil {
			return nil, err
		}
	}
	if err := ptq.CheckNodes(m, p.cfg); err != nil {
		return nil, userErrorf("%s: %v", in, err)
	}
	// The float model as given: the teacher and the reference (PTQ
	// normalizes m in place).
	if p.float, err = tune.Clone(m); err != nil {
		return nil, err
	}
	if p.calib, _, err = openData(c, "calib", m, ""); err != nil {
		return nil, err
	}
	p.where = fmt.Sprintf("%s (--calib %s)", in, c.String("calib"))
	p.res = &quantizeResult{Model: in, Output: p.out}
	ms := &p.res.Stages.Measure
	if p.eval, ms.Data, err = openEval(c, m, p.calib); err != nil {
		return nil, err
	}
	if c.String("eval") == "" {
		ms.Data = samplesOf(p.eval.Source, "the calibration data")
	}
	if p.backend, err = backendOf(c); err != nil {
		return nil, err
	}
	p.judge = p.eval
	if p.plan != nil && p.plan.Loss == "" {
		p.plan.Loss = autoLoss(m)
	}
	if p.plan != nil {
		p.res.Stages.Finetune = &finetuneStage{}
		if p.train, p.res.Stages.Finetune.Data, err = openTrain(c, m, p.calib); err != nil {
			return nil, err
		}
		if err := p.holdOut(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// holdOut keeps the last fifth (at least one) of the calibration samples
// out of fine-tuning when they would otherwise be both what the model is
// trained on and what decides whether training helped: measured on its own
// training samples a fine-tuned model always looks better (PP-OCRv4 det
// distilled on 5 photos: text-map IoU 0.85 -> 0.96 on them, 0.83 -> 0.80
// on others).
func (p *pipeline) holdOut() error {
	n := p.calib.Len()
	if p.c.String("eval") != "" || p.c.String("train") != "" || n < 2 {
		return nil
	}
	k := max(1, n/5)
	train, err := dataset.Slice(p.calib, 0, n-k)
	if err != nil {
		return err
	}
	held, err := dataset.Slice(p.calib, n-k, n)
	if err != nil {
		return err
	}
	p.train, p.judge.Source = train, held
	p.res.Stages.Finetune.Data = fmt.Sprintf("the first %d of %d calibration samples", n-k, n)
	p.res.Stages.Measure.Data = fmt.Sprintf("the last %d of %d calibration samples (held out of fine-tuning)", k, n)
	return nil
}

// budgetFlags reads a budget, or refuses the flags that need one.
func (p *pipeline) budgetFlags() error {
	c := p.c
	if !hasBudget(c) {
		for _, f := range searchOnlyFlags {
			if c.IsSet(f) {
				return userErrorf("--%s applies to a budget: give --max-drop or --min-sqnr", f)
			}
		}
		return nil
	}
	if c.String("stats") != "" {
		return userErrorf("--stats does not combine with a budget: the search calibrates every tensor itself")
	}
	budget, precs, err := parseBudget(c)
	if err != nil {
		return err
	}
	p.budget, p.precs = &budget, precs
	return nil
}

// quantize is the PTQ stage, as insert-qdq.
func (p *pipeline) quantize() error {
	t := time.Now()
	st := &p.res.Stages.PTQ
	if p.budget != nil {
		br, err := searchBudget(p.c, p.model, p.where, p.cfg, p.calib, p.eval, *p.budget, p.precs)
		if err != nil {
			return err
		}
		p.br, p.cands = br, []*graph.Model{br.Model}
		st.Budget, st.Chosen = p.budget.String(), tune.DescribeSettings(br.Search.Chosen)
		st.fill(br.Result)
	} else {
		pres, err := calibrateAndInsert(p.c, p.model, p.where, p.calib, p.cfg)
		if err != nil {
			return err
		}
		p.ptqReport, p.cands = pres, []*graph.Model{p.model}
		st.fill(pres)
	}
	st.Seconds, st.Data, st.Target = time.Since(t).Seconds(), samplesOf(p.calib, p.c.String("calib")), string(p.cfg.Target)
	return nil
}

// finetune is the fine-tuning stage: a copy of the PTQ model trained
// with the float model as teacher, as 'finetune --teacher'.
func (p *pipeline) finetune() error {
	if p.plan == nil {
		return nil
	}
	t := time.Now()
	ft, err := tune.Clone(p.cands[0])
	if err != nil {
		return err
	}
	teacher, err := tune.Clone(p.float)
	if err != nil {
		return err
	}
	data := qat.Data{Inputs: p.train}
	if data.Teacher, err = engine.Compile(teacher); err != nil {
		return userErrorf("%s: %v", p.in, err)
	}
	st := p.res.Stages.Finetune
	first, err := p.train.Sample(0)
	if err != nil {
		return userErrorf("%s: sample 0: %v", st.Data, err)
	}
	qc := p.plan.config(p.train.Len(), first)
	tres, err := trainQDQ(p.c, ft, p.in, data, qc)
	if errors.Is(err, qat.ErrNothingToTrain) {
		// The PTQ model is the result; the report says why.
		st.Seconds, st.Skipped = time.Since(t).Seconds(), err.Error()
		return nil
	}
	if err != nil {
		return err
	}
	*st = finetuneStage{Seconds: time.Since(t).Seconds(), Data: st.Data, Samples: p.train.Len(),
		Loss: string(qc.Loss), LR: qc.LR, BatchSize: qc.BatchSize, Accumulate: qc.Accumulate, LearnScales: qc.LearnScales,
		Epochs: qc.Epochs, MaxSteps: qc.MaxSteps, Training: tres}
	p.cands = append(p.cands, ft)
	return nil
}

// exportAll exports every candidate, in place: what is measured is what
// is written.
func (p *pipeline) exportAll() error {
	t := time.Now()
	p.logs = make([]*rewrite.Log, len(p.cands))
	for i, m := range p.cands {
		var err error
		if p.logs[i], err = exportModel(m, fmt.Sprintf("%s (%s model)", p.in, candidateNames[i]), p.target); err != nil {
			return err
		}
	}
	p.exportSeconds = time.Since(t).Seconds()
	return nil
}

// measure runs the float model and the candidates on the evaluation data
// and chooses the candidate to write.
func (p *pipeline) measure() error {
	t := time.Now()
	ms := &p.res.Stages.Measure
	ms.Samples, ms.Engine = p.judge.Source.Len(), p.c.String("engine")
	bar := newProgress(p.c, int64(ms.Samples), "measuring")
	probs := p.plan != nil && p.plan.Loss == qat.DistillBCE
	figs, err := measureCandidates(p.backend, p.float, p.cands, p.judge, probs, progressTo(bar))
	bar.Finish()
	if err != nil {
		return userErrorf("%s: measuring on %s: %v", p.in, ms.Data, err)
	}
	ms.Seconds = time.Since(t).Seconds()
	ms.Float, ms.PTQ = figs[0], figs[1]
	ms.Criterion, p.res.Why = "mean_sqnr", "fine-tuning skipped (--no-finetune)"
	if f := p.res.Stages.Finetune; f != nil && f.Skipped != "" {
		p.res.Why = "fine-tuning skipped: " + f.Skipped
	}
	switch {
	case p.judge.Labels != nil:
		ms.Criterion = "top1"
	case probs:
		// The SQNR of a sparse probability map says little: on a photo
		// without text it is the SQNR of background noise, and a model
		// that predicts nothing scores 0 dB there.
		ms.Criterion = "bernoulli_kl"
	}
	if len(figs) > 2 {
		ms.Finetuned = &figs[2]
		var better bool
		if better, p.res.Why = judge(ms.Criterion, figs[0], figs[1], figs[2]); better {
			p.kept = 1
		}
	}
	p.res.Kept = candidateNames[p.kept]
	return nil
}

// write writes the kept model (atomically), a budget's config and HTML
// report, and the --report file.
func (p *pipeline) write() error {
	t := time.Now()
	m := p.cands[p.kept]
	if err := m.Save(p.out); err != nil {
		return err
	}
	ex := &p.res.Stages.Export
	ex.Seconds = p.exportSeconds + time.Since(t).Seconds()
	ex.Target, ex.Log, ex.Opset = p.target, p.logs[p.kept].Entries, m.Opset("")
	if fi, err := os.Stat(p.out); err == nil {
		ex.Bytes = fi.Size()
	}
	if p.br != nil {
		cfgPath, err := saveBudgetFiles(p.c, p.in, p.out, p.res.Stages.Measure.Data, p.br)
		if err != nil {
			return err
		}
		p.res.Stages.PTQ.Config = cfgPath
		p.ptqReport = p.br.report(cfgPath)
	}
	p.res.Seconds = time.Since(p.start).Seconds()
	if rp := p.c.String("report"); rp != "" {
		return writeJSONFile(rp, quantizeReport{p.res, p.ptqReport})
	}
	return nil
}

// candidateNames name the candidates in the order they are made.
var candidateNames = []string{"ptq", "finetuned"}

func (st *ptqStage) fill(r *ptq.Result) {
	st.Samples, st.Method, st.Opset = r.Samples, string(r.Method), r.Opset
	st.Quantized, st.Float, st.Tensors, st.BiasFixes = r.Quantized, r.Float, len(r.Tensors), len(r.BiasFixes)
}

// openTrain opens --train, or returns the calibration samples without it.
func openTrain(c *cli.Context, m *graph.Model, calib dataset.Source) (dataset.Source, string, error) {
	path := c.String("train")
	if path == "" {
		return calib, samplesOf(calib, "the calibration data"), nil
	}
	src, _, err := openSource(path, extraPreset(c, path), inputNames(m), "")
	if err != nil {
		return nil, "", userErrorf("--train %s: %v", path, err)
	}
	if err := dataset.Validate(src, dataset.ModelInputs(m.Graph)); err != nil {
		return nil, "", userErrorf("--train %s does not fit the model %s: %s", path, c.Args().First(), strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return src, samplesOf(src, path), nil
}

// samplesOf describes the samples of src, which come from what.
func samplesOf(src dataset.Source, what string) string {
	return fmt.Sprintf("%d sample(s) of %s", src.Len(), what)
}

// judge decides whether the fine-tuned model is kept: its top-1 (or mean
// SQNR) must not be lower than the PTQ model's. It says why.
func judge(criterion string, float, p, f figures) (bool, string) {
	if criterion == "top1" {
		if *f.Top1 >= *p.Top1 {
			return true, fmt.Sprintf("fine-tuned top-1 %.2f%% >= PTQ's %.2f%%", 100**f.Top1, 100**p.Top1)
		}
		return false, fmt.Sprintf("fine-tuned top-1 %.2f%% < PTQ's %.2f%%: the PTQ model is kept", 100**f.Top1, 100**p.Top1)
	}
	if criterion == "bernoulli_kl" {
		if *float.Positives == 0 {
			// PP-OCR det distilled on photos with hardly any text learns
			// to predict none, and wins on photos without any.
			return false, "the float model's outputs are 0.5 or below everywhere on the evaluation data: it cannot show whether fine-tuning kept what the model detects; the PTQ model is kept (give --eval data where the model detects something)"
		}
		if *f.MeanKL <= *p.MeanKL {
			return true, fmt.Sprintf("fine-tuned mean Bernoulli KL %.4g <= PTQ's %.4g", *f.MeanKL, *p.MeanKL)
		}
		return false, fmt.Sprintf("fine-tuned mean Bernoulli KL %.4g > PTQ's %.4g: the PTQ model is kept", *f.MeanKL, *p.MeanKL)
	}
	if float64(*f.MeanSQNR) >= float64(*p.MeanSQNR) {
		return true, fmt.Sprintf("fine-tuned mean SQNR %s dB >= PTQ's %s dB", dB(*f.MeanSQNR), dB(*p.MeanSQNR))
	}
	return false, fmt.Sprintf("fine-tuned mean SQNR %s dB < PTQ's %s dB: the PTQ model is kept", dB(*f.MeanSQNR), dB(*p.MeanSQNR))
}

// measureCandidates runs the float model and the candidates on the
// evaluation data with backend and returns their figures, the float
// model's first. Each candidate's measured tensors (eval.Tensors, or the
// float model's outputs) are compared with the float model's (tune.Error:
// SQNR over all samples); a tensor V of the float model is read in a QDQ
// model as its quantized form V_dequantized when there is one (tune.Match).
func measureCandidates(backend tune.Backend, float *graph.Model, cands []*graph.Model, eval tune.EvalData, probs bool, progress func(done int)) ([]figures, error) {
	names := eval.Tensors
	if len(names) == 0 {
		for _, v := range float.Graph.Outputs {
			names = append(names, v.Name)
		}
	}
	logits := eval.Output
	if logits == "" {
		logits = float.Graph.Outputs[0].Name
	}
	models := append([]*graph.Model{float}, cands...)
	runners := make([]evaluate.Runner, len(models))
	found := make([]map[string]string, len(models)) // measured name -> name in the model
	for i, mi := range models {
		what := "float"
		if i > 0 {
			what = candidateNames[i-1]
		}
		cm, err := tune.Clone(mi)
		if err != nil {
			return nil, err
		}
		if found[i], err = exposeTensors(float, cm, names); err != nil {
			return nil, fmt.Errorf("%s model: %w", what, err)
		}
		if runners[i], err = backend(cm); err != nil {
			return nil, fmt.Errorf("%s model: %w", what, err)
		}
		defer runners[i].Close()
	}
	errs := make([][]tune.Error, len(cands))
	for k := range errs {
		errs[k] = make([]tune.Error, len(names))
	}
	kl := make([]bernoulliKL, len(cands))
	positives := 0
	tallies := make([]evaluate.Tally, len(models))
	for s := 0; s < eval.Source.Len(); s++ {
		sample, err := eval.Source.Sample(s)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", s, err)
		}
		var ref map[string]*graph.Tensor
		for i, r := range runners {
			out, err := r.Run(sample)
			if err != nil {
				return nil, fmt.Errorf("sample %d, %s model: %w", s, modelName(i), err)
			}
			if i == 0 {
				ref = out
				if probs {
					for _, n := range names {
						positives += countAbove(out[found[0][n]], 0.5)
					}
				}
			} else {
				for j, n := range names {
					got, want := out[found[i][n]], ref[found[0][n]]
					if got == nil || want == nil {
						return nil, fmt.Errorf("sample %d, %s model: no tensor %q", s, modelName(i), n)
					}
					if err := errs[i-1][j].Add(got, want); err != nil {
						return nil, fmt.Errorf("sample %d, %s model, tensor %q: %w", s, modelName(i), n, err)
					}
					if probs {
						if err := kl[i-1].add(got, want); err != nil {
							return nil, fmt.Errorf("sample %d, %s model, tensor %q: %w", s, modelName(i), n, err)
						}
					}
				}
			}
			if eval.Labels != nil {
				scores, err := evaluate.Scores(out[logits])
				if err != nil {
					return nil, fmt.Errorf("sample %d, %s model, output %q: %w", s, modelName(i), logits, err)
				}
				if err := tallies[i].Add(scores, eval.Labels[s]); err != nil {
					return nil, fmt.Errorf("sample %d: %w", s, err)
				}
			}
		}
		if progress != nil {
			progress(s + 1)
		}
	}
	figs := make([]figures, len(models))
	if probs {
		figs[0].Positives = &positives
	}
	for i := range models {
		if eval.Labels != nil {
			t := tallies[i].Accuracy().Top1
			figs[i].Top1 = &t
		}
		if i == 0 {
			continue
		}
		var sum float64
		lowest := math.Inf(1)
		figs[i].Tensors = map[string]tune.ErrorStats{}
		for j, n := range names {
			st := errs[i-1][j].Stats()
			figs[i].Tensors[n] = st
			sum += float64(st.SQNR)
			lowest = math.Min(lowest, float64(st.SQNR))
		}
		mean, low := tune.Num(sum/float64(len(names))), tune.Num(lowest)
		figs[i].MeanSQNR, figs[i].MinSQNR = &mean, &low
		if probs {
			m := kl[i-1].mean()
			figs[i].MeanKL = &m
		}
	}
	return figs, nil
}

// bernoulliKL accumulates KL(want || got) of element-wise probabilities:
// w log(w / g) + (1 - w) log((1 - w) / (1 - g)), both clamped to
// [1e-7, 1 - 1e-7] as the bce loss clamps them.
type bernoulliKL struct {
	sum float64
	n   int
}

func (k *bernoulliKL) add(got, want *graph.Tensor) error {
	g, err := got.Float32s()
	if err != nil {
		return err
	}
	w, err := want.Float32s()
	if err != nil {
		return err
	}
	if len(g) != len(w) {
		return fmt.Errorf("%d values against the float model's %d", len(g), len(w))
	}
	const eps = 1e-7
	for i := range g {
		q := min(max(float64(g[i]), eps), 1-eps)
		p := min(max(float64(w[i]), eps), 1-eps)
		k.sum += p*math.Log(p/q) + (1-p)*math.Log((1-p)/(1-q))
	}
	k.n += len(g)
	return nil
}

// countAbove counts the elements of t above x (none when t is not float).
func countAbove(t *graph.Tensor, x float32) int {
	v, _ := t.Float32s()
	n := 0
	for _, e := range v {
		if e > x {
			n++
		}
	}
	return n
}

func (k *bernoulliKL) mean() float64 { return k.sum / float64(max(k.n, 1)) }

func modelName(i int) string {
	if i == 0 {
		return "float"
	}
	return candidateNames[i-1]
}

// exposeTensors makes the tensors of the float model named in names graph
// outputs of m (which it changes) and returns the name each has in m: its
// counterpart as tune.Match pairs them.
func exposeTensors(float, m *graph.Model, names []string) (map[string]string, error) {
	byRef := map[string]*graph.Value{}
	for _, p := range tune.Match(float, m) {
		byRef[p.Ref.Name] = p.Test
	}
	outputs := map[*graph.Value]bool{}
	for _, v := range m.Graph.Outputs {
		outputs[v] = true
		byRef[v.Name] = v
	}
	found := map[string]string{}
	for _, n := range names {
		v := byRef[n]
		if v == nil {
			return nil, fmt.Errorf("the model computes no tensor %q to measure", n)
		}
		if !outputs[v] {
			m.Graph.Outputs = append(m.Graph.Outputs, v)
			outputs[v] = true
		}
		found[n] = v.Name
	}
	return found, nil
}

// writeText writes the summary: one line per stage.
func (r *quantizeResult) writeText(w io.Writer) error {
	s := r.Stages
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := s.PTQ
	line := fmt.Sprintf("%s ranges on %s, %s profile: %d nodes quantized, %d left in float, opset %d",
		p.Method, p.Data, p.Target, p.Quantized, p.Float, p.Opset)
	if p.Budget != "" {
		line += fmt.Sprintf("; budget %s: layers %s", p.Budget, p.Chosen)
	}
	fmt.Fprintf(tw, "ptq\t%.1f s\t%s\n", p.Seconds, line)
	switch f := s.Finetune; {
	case f != nil && f.Skipped != "":
		fmt.Fprintf(tw, "finetune\t%.1f s\tskipped: %s\n", f.Seconds, f.Skipped)
	case f != nil:
		how := fmt.Sprintf("batch %d", f.BatchSize)
		if f.Accumulate {
			how += " (accumulated sample by sample)"
		}
		fmt.Fprintf(tw, "finetune\t%.1f s\t%d steps (stopped by %s) on %s: %s loss against the float model, lr %g, %s, final loss %.4g\n",
			f.Seconds, f.Training.Steps, f.Training.StoppedBy, f.Data, f.Loss, f.LR, how, f.Training.FinalLoss)
		for _, fr := range f.Training.Frozen {
			fmt.Fprintf(tw, "\t\tfrozen: %s\n", fr)
		}
	default:
		fmt.Fprintf(tw, "finetune\t-\tskipped (--no-finetune)\n")
	}
	m := s.Measure
	fmt.Fprintf(tw, "measure\t%.1f s\ton %s, %s engine:%s\n", m.Seconds, m.Data, m.Engine, describeFigures(m))
	fmt.Fprintf(tw, "kept\t\t%s: %s\n", r.Kept, r.Why)
	e := s.Export
	fmt.Fprintf(tw, "export\t%.1f s\t--target %s: wrote %s (%d bytes, opset %d)\n", e.Seconds, e.Target, r.Output, e.Bytes, e.Opset)
	if p.Config != "" {
		fmt.Fprintf(tw, "\t\tbudget config: %s\n", p.Config)
	}
	fmt.Fprintf(tw, "total\t%.1f s\t\n", r.Seconds)
	return tw.Flush()
}

// describeFigures lists each model's top-1 and SQNR.
func describeFigures(m measureStage) string {
	var parts []string
	add := func(name string, f *figures) {
		if f == nil {
			return
		}
		var fs []string
		if f.Top1 != nil {
			fs = append(fs, fmt.Sprintf("top-1 %.2f%%", 100**f.Top1))
		}
		if f.MeanSQNR != nil {
			s := fmt.Sprintf("SQNR %s dB", dB(*f.MeanSQNR))
			if len(f.Tensors) > 1 {
				s = fmt.Sprintf("SQNR mean %s dB, lowest %s dB (%s)", dB(*f.MeanSQNR), dB(*f.MinSQNR), worstTensor(f.Tensors))
			}
			fs = append(fs, s)
		}
		if len(fs) > 0 {
			parts = append(parts, " "+name+" "+strings.Join(fs, ", "))
		}
	}
	add("float", &m.Float)
	add("ptq", &m.PTQ)
	add("finetuned", m.Finetuned)
	return strings.Join(parts, ";")
}

// worstTensor names the tensor with the lowest SQNR.
func worstTensor(ts map[string]tune.ErrorStats) string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	worst := names[0]
	for _, n := range names {
		if float64(ts[n].SQNR) < float64(ts[worst].SQNR) {
			worst = n
		}
	}
	return worst
}
