package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/qat"
	"github.com/onnxq/onnxq/rewrite"
)

func finetuneCommand() *cli.Command {
	flags := append(dataFlags("data", "training samples"),
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the fine-tuned QDQ model to write (float weights behind Q/DQ; see 'onnxq export')", Required: true},
		&cli.StringFlag{Name: "labels", Usage: "label array key in the --data .npz"},
		&cli.StringFlag{Name: "labels-file", Usage: "labels as an idx1 file or .npy (for MNIST idx data)"},
		&cli.StringFlag{Name: "teacher", Usage: "float model to distil from (no labels needed; default without labels: MODEL itself when it is a float model)"},
		&cli.StringFlag{Name: "loss", Usage: "ce (labels), kl, mse or bce (distillation; bce for outputs that are probabilities, such as a sigmoid map); default ce with labels, kl with a teacher"},
		&cli.Float64Flag{Name: "temperature", Usage: "softmax temperature of the ce and kl losses (0: automatic, the median spread of the reference logits over 4, at least 1)"},
		&cli.IntFlag{Name: "epochs", Value: 1},
		&cli.IntFlag{Name: "max-steps", Usage: "stop after this many optimizer steps"},
		&cli.IntFlag{Name: "batch-size", Value: 32, Usage: "samples per optimizer step, whatever the model's own batch size"},
		&cli.BoolFlag{Name: "accumulate", Usage: "run the samples of a batch one by one and accumulate gradients (default: run the batch at once in a re-batched copy of the model when it computes the same thing)"},
		&cli.Float64Flag{Name: "lr", Value: 1e-4, Usage: "learning rate"},
		&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam or sgd (with momentum)"},
		&cli.Float64Flag{Name: "momentum", Value: 0.9},
		&cli.Float64Flag{Name: "weight-decay"},
		&cli.StringFlag{Name: "schedule", Value: "constant", Usage: "learning-rate schedule: constant or cosine"},
		&cli.IntFlag{Name: "warmup", Usage: "linear warm-up steps"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the sample order"},
		&cli.BoolFlag{Name: "learn-scales", Usage: "train quantization scales too (LSQ)"},
		&cli.StringFlag{Name: "bits-schedule", Usage: "precision schedule, e.g. '0:8,1:6,2:4' (epoch:bits) or '0:w8a8,1:w4a8'"},
		&cli.StringFlag{Name: "checkpoint", Usage: "checkpoint file (written every --checkpoint-every steps and after each epoch)"},
		&cli.IntFlag{Name: "checkpoint-every", Usage: "steps between checkpoints"},
		&cli.BoolFlag{Name: "resume", Usage: "continue from --checkpoint"},
		&cli.StringFlag{Name: "eval", Usage: "labelled evaluation data, scored after each epoch (.npz with labels, or an idx file with --eval-labels-file)"},
		&cli.StringFlag{Name: "eval-labels-file", Usage: "labels of --eval as an idx1 file or .npy"},
		&cli.IntFlag{Name: "eval-limit", Usage: "score only the first this many --eval samples (0: all)"},
		&cli.IntFlag{Name: "early-stop", Usage: "stop after this many epochs without a better evaluation score"},
		&cli.StringFlag{Name: "calib", Usage: "calibration data when MODEL is a float model (default: the first 200 --data samples)"},
		jsonFlag)
	for _, f := range quantFlags() {
		flags = append(flags, f)
	}
	return &cli.Command{
		Name:      "finetune",
		Usage:     "quantization-aware training: fine-tune a QDQ model (or a float model, calibrated first) with fake quantization",
		ArgsUsage: "MODEL",
		Flags:     flags,
		Action:    finetuneAction,
	}
}

// parseBitsSchedule reads "0:8,1:6,2:4" or "0:w8a8,1:w4a8".
func parseBitsSchedule(s string) ([]qat.BitsStep, error) {
	var steps []qat.BitsStep
	for _, part := range splitList([]string{s}) {
		ep, spec, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("bits schedule entry %q: want EPOCH:BITS", part)
		}
		e, err := strconv.Atoi(ep)
		if err != nil || e < 0 {
			return nil, fmt.Errorf("bits schedule entry %q: bad epoch", part)
		}
		st := qat.BitsStep{Epoch: e}
		if b, err := strconv.Atoi(spec); err == nil {
			st.Weights, st.Activations = b, b
		} else {
			rest := spec
			for rest != "" {
				kind := rest[0]
				j := 1
				for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
					j++
				}
				b, err := strconv.Atoi(rest[1:j])
				if err != nil || (kind != 'w' && kind != 'a') {
					return nil, fmt.Errorf("bits schedule entry %q: want BITS or wBITSaBITS", part)
				}
				if kind == 'w' {
					st.Weights = b
				} else {
					st.Activations = b
				}
				rest = rest[j:]
			}
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func hasQDQ(m *graph.Model) bool {
	found := false
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.OpType == "QuantizeLinear" || n.OpType == "DequantizeLinear" {
			found = true
		}
		return !found
	})
	return found
}

func finetuneAction(c *cli.Context) error {
	m, in, err := loadModelArg(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	src, labels, err := openData(c, "data", m, c.String("labels"))
	if err != nil {
		return err
	}
	if lf := c.String("labels-file"); lf != "" {
		if labels, err = evaluate.ReadLabels(lf); err != nil {
			return userErrorf("--labels-file: %v", err)
		}
		if len(labels) < src.Len()+c.Int("offset") {
			return userErrorf("--labels-file has %d labels for %d samples", len(labels), src.Len())
		}
		labels = labels[c.Int("offset") : c.Int("offset")+src.Len()]
	}
	cfg := qat.Config{
		Epochs: c.Int("epochs"), MaxSteps: c.Int("max-steps"), BatchSize: c.Int("batch-size"), LR: c.Float64("lr"),
		Optimizer: qat.Optimizer(c.String("optimizer")), Momentum: c.Float64("momentum"), WeightDecay: c.Float64("weight-decay"),
		Schedule: qat.Schedule(c.String("schedule")), WarmupSteps: c.Int("warmup"), Seed: c.Uint64("seed"),
		LearnScales: c.Bool("learn-scales"), Temperature: c.Float64("temperature"),
		CheckpointPath: c.String("checkpoint"), CheckpointEvery: c.Int("checkpoint-every"), Resume: c.Bool("resume"),
		EarlyStop: c.Int("early-stop"), Accumulate: c.Bool("accumulate"),
	}
	if s := c.String("bits-schedule"); s != "" {
		if cfg.Bits, err = parseBitsSchedule(s); err != nil {
			return userErrorf("--bits-schedule: %v", err)
		}
	}
	data := qat.Data{Inputs: src, Labels: labels}
	switch {
	case c.String("teacher") != "":
		tm, err := graph.FromFile(c.String("teacher"))
		if err != nil {
			return userErrorf("--teacher: %v", err)
		}
		if data.Teacher, err = engine.Compile(tm); err != nil {
			return userErrorf("--teacher %s: %v", c.String("teacher"), err)
		}
		cfg.Loss = qat.DistillKL
	case labels == nil && !hasQDQ(m):
		// Label-free from a float model: it is its own teacher.
		fm, err := qat.CloneModel(m)
		if err != nil {
			return err
		}
		if data.Teacher, err = engine.Compile(fm); err != nil {
			return userErrorf("%s: %v", in, err)
		}
		cfg.Loss = qat.DistillKL
	case labels == nil:
		return userErrorf("finetune needs labels (--labels or --labels-file) or a float --teacher to distil from")
	default:
		cfg.Loss = qat.CrossEntropy
	}
	if l := c.String("loss"); l != "" {
		cfg.Loss = qat.LossKind(l)
	}
	// Hybrid start: a float model is calibrated first.
	report := map[string]any{}
	if !hasQDQ(m) {
		qc, err := quantConfig(c)
		if err != nil {
			return err
		}
		calib := src
		if c.String("calib") != "" {
			if calib, _, err = openData(c, "calib", m, ""); err != nil {
				return err
			}
		} else if calib.Len() > 200 {
			calib, _ = dataset.Slice(src, 0, 200)
		}
		bar := newProgress(c, int64(calib.Len()), "calibrating")
		qc.Progress = func(int, int) { bar.Add(1) }
		res, err := ptq.Quantize(m, calib, qc)
		bar.Finish()
		if err != nil {
			return userErrorf("%s: calibration: %v", in, err)
		}
		// Training starts from float weights behind Q/DQ.
		report["ptq"] = res
	}
	if ev := c.String("eval"); ev != "" {
		evSrc, evLabels, err := openSourceFlag(c, ev, m, c.String("labels"), c.String("eval-labels-file"))
		if err != nil {
			return err
		}
		if n := c.Int("eval-limit"); n > 0 && n < evSrc.Len() {
			if evSrc, err = dataset.Slice(evSrc, 0, n); err != nil {
				return err
			}
			evLabels = evLabels[:n]
		}
		cfg.Eval = func(em *graph.Model) (float64, error) { return top1(em, evSrc, evLabels) }
	}
	res, err := trainQDQ(c, m, in, data, cfg)
	if err != nil {
		return err
	}
	report["training"] = res
	if err := m.Save(out); err != nil {
		return err
	}
	return writeResult(c, report, func(c *cli.Context) error {
		how := "batches run at once"
		if !res.Rebatched {
			how = "gradients accumulated sample by sample"
		}
		fmt.Fprintf(c.App.Writer, "wrote %s: %d steps in %d epochs (%s), final loss %.4f, temperature %.4g, %.0f samples/s, %s\n", out, res.Steps, res.Epochs, res.StoppedBy, res.FinalLoss, res.Temperature, res.Throughput, how)
		if res.Accumulated != "" {
			fmt.Fprintf(c.App.Writer, "note: %s\n", res.Accumulated)
		}
		for _, f := range res.Frozen {
			fmt.Fprintf(c.App.Writer, "frozen: %s\n", f)
		}
		for i, s := range res.Scores {
			fmt.Fprintf(c.App.Writer, "epoch %d: top-1 %.2f%%\n", i+1, 100*s)
		}
		return nil
	})
}

// trainQDQ fine-tunes the QDQ model m in place, as finetune does: it
// turns m into its training form, trains it on data with cfg (a progress
// bar on stderr; Ctrl-C stops after the current step and writes the
// checkpoint, with --checkpoint, from which --resume continues) and
// writes the learned weights and scales back as Q/DQ. Errors name where.
func trainQDQ(c *cli.Context, m *graph.Model, where string, data qat.Data, cfg qat.Config) (*qat.Result, error) {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	cfg.Context = ctx
	tm, err := qat.ToTraining(m)
	if err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	batch := max(cfg.BatchSize, 1)
	bar := newProgress(c, int64(max(cfg.Epochs, 1)*((data.Inputs.Len()+batch-1)/batch)), "training")
	cfg.Progress = func(p qat.Progress) {
		if p.Score != nil {
			bar.Describe(fmt.Sprintf("epoch %d: top-1 %.2f%%", p.Epoch+1, 100**p.Score))
			return
		}
		bar.Describe(fmt.Sprintf("epoch %d loss %.4f %.0f samples/s", p.Epoch+1, p.Loss, p.SamplesPerSecond))
		bar.Add(1)
	}
	res, err := qat.Train(tm, data, cfg)
	bar.Finish()
	if err != nil {
		return nil, userErrorf("%s: %w", where, err)
	}
	if err := qat.ToQDQ(tm); err != nil {
		return nil, err
	}
	return res, nil
}

// openSourceFlag opens an extra data path with the command's preset.
func openSourceFlag(c *cli.Context, path string, m *graph.Model, labelKey, labelsFile string) (dataset.Source, []int64, error) {
	key := labelKey
	if labelsFile != "" {
		key = ""
	} else if key == "" {
		key = dataset.DefaultLabelKey
	}
	src, labels, err := openSource(path, c.String(preprocessFlag.Name), inputNames(m), key)
	if err != nil {
		return nil, nil, userErrorf("%s: %v", path, err)
	}
	if labelsFile != "" {
		if labels, err = evaluate.ReadLabels(labelsFile); err != nil {
			return nil, nil, userErrorf("%s: %v", labelsFile, err)
		}
	}
	if len(labels) != src.Len() {
		return nil, nil, userErrorf("%s: %d labels for %d samples", path, len(labels), src.Len())
	}
	return src, labels, nil
}

// top1 scores a model in memory with the Go engine.
func top1(m *graph.Model, src dataset.Source, labels []int64) (float64, error) {
	prog, err := engine.Compile(m)
	if err != nil {
		return 0, err
	}
	out := m.Graph.Outputs[0].Name
	var tally evaluate.Tally
	for i := 0; i < src.Len(); i++ {
		s, err := src.Sample(i)
		if err != nil {
			return 0, err
		}
		res, err := prog.Run(s, nil)
		if err != nil {
			return 0, fmt.Errorf("sample %d: %w", i, err)
		}
		scores, err := evaluate.Scores(res[out])
		if err != nil {
			return 0, err
		}
		if err := tally.Add(scores, labels[i]); err != nil {
			return 0, err
		}
	}
	return tally.Accuracy().Top1, nil
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the deployable form of a QDQ model: integer weights, int32 biases, checked Q/DQ",
		ArgsUsage: "MODEL",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true},
			&cli.StringFlag{Name: "target", Value: "ort", Usage: "ort (4-bit activations in 8-bit types behind a Clip, which ONNX Runtime loads), tensorrt (checks the TensorRT profile) or onnx (standard ONNX, 4-bit types kept)"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			m, in, err := loadModelArg(c)
			if err != nil {
				return err
			}
			out := c.String("output")
			log, err := exportModel(m, in, c.String("target"))
			if err != nil {
				return err
			}
			if err := m.Save(out); err != nil {
				return err
			}
			return writeResult(c, log.Entries, func(c *cli.Context) error {
				for _, e := range log.Entries {
					fmt.Fprintf(c.App.Writer, "%s: %s\n", e.Pass, e.Message)
				}
				fmt.Fprintf(c.App.Writer, "wrote %s (ir_version %d, opset %d)\n", out, m.IRVersion, m.Opset(""))
				return nil
			})
		},
	}
}

// exportModel turns the QDQ model m into its deployable form for target
// (ort, tensorrt or onnx), in place, as export does. Errors name where.
func exportModel(m *graph.Model, where, target string) (*rewrite.Log, error) {
	var log rewrite.Log
	if err := qat.Export(m, qat.ExportTarget(target), &log); err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	return &log, nil
}
