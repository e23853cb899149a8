package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/progress"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/report"
	"github.com/onnxq/onnxq/tune"
)

// evalFlags are the evaluation-data flags of analyze and of insert-qdq
// with a budget.
func evalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "eval", Usage: "evaluation data: .npz (with a --labels array for top-1), an MNIST idx file or image folder (--preprocess), or test_data_set folders (default: the calibration data)"},
		&cli.StringFlag{Name: "eval-labels", Usage: "`FILE` of labels of --eval, one per sample: MNIST idx1, .npy or text"},
		&cli.StringFlag{Name: "labels", Usage: "`KEY` of the label array in an --eval .npz (default: \"labels\" when the file has it)"},
		&cli.IntFlag{Name: "eval-limit", Usage: "use at most this many evaluation samples (0: all)"},
		&cli.StringFlag{Name: "logits", Usage: "model output `NAME` holding the class scores for top-1 (default: the first output)"},
		&cli.StringSliceFlag{Name: "measure", Usage: "`TENSOR`s whose SQNR is measured instead of the outputs' (e.g. the logits before a final Sigmoid whose outputs saturate)"},
	}
}

// measureFlags choose the engine that measures the variants.
func measureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "engine", Value: "go", Usage: "engine that measures the quantized variants: go (built in) or ort (ONNX Runtime, loaded from --ort-lib or $ONNXRUNTIME_LIB)"},
		ortLibFlag, threadsFlag,
	}
}

// openEval opens the evaluation data of model m; without --eval it is the
// calibration data, without labels.
// openCalibEval checks m's nodes against cfg and opens the calibration
// data (--calib) and the evaluation data (--eval, or the calibration
// samples), with a description of the latter. in names the model.
func openCalibEval(c *cli.Context, m *graph.Model, in string, cfg ptq.Config) (dataset.Source, tune.EvalData, string, error) {
	if err := ptq.CheckNodes(m, cfg); err != nil {
		return nil, tune.EvalData{}, "", userErrorf("%s: %v", in, err)
	}
	calib, _, err := openData(c, "calib", m, "")
	if err != nil {
		return nil, tune.EvalData{}, "", err
	}
	eval, desc, err := openEval(c, m, calib)
	if err != nil {
		return nil, tune.EvalData{}, "", err
	}
	return calib, eval, desc, nil
}

func openEval(c *cli.Context, m *graph.Model, calib dataset.Source) (tune.EvalData, string, error) {
	path := c.String("eval")
	if path == "" {
		if c.String("eval-labels") != "" || c.IsSet("labels") {
			return tune.EvalData{}, "", userErrorf("--eval-labels and --labels need --eval")
		}
		return tune.EvalData{Source: limitSource(calib, c.Int("eval-limit")), Tensors: splitList(c.StringSlice("measure"))}, "the calibration data", nil
	}
	inputs, preset := inputNames(m), extraPreset(c, path)
	key := c.String("labels")
	var src dataset.Source
	var labels []int64
	var err error
	switch {
	case c.String("eval-labels") != "" || isDir(path) && !c.IsSet("labels"):
		src, _, err = openSource(path, preset, inputs, "")
	case c.IsSet("labels"):
		src, labels, err = openSource(path, preset, inputs, key)
	default:
		// An .npz with a "labels" array carries its labels.
		src, labels, err = openSource(path, preset, inputs, dataset.DefaultLabelKey)
		if err != nil && strings.Contains(err.Error(), "no label array") {
			src, labels, err = openSource(path, preset, inputs, "")
		}
	}
	if err != nil {
		return tune.EvalData{}, "", userErrorf("--eval %s: %v", path, err)
	}
	if lf := c.String("eval-labels"); lf != "" {
		if labels, err = evaluate.ReadLabels(lf); err != nil {
			return tune.EvalData{}, "", userErrorf("--eval-labels: %v", err)
		}
		if len(labels) != src.Len() {
			return tune.EvalData{}, "", userErrorf("--eval-labels %s has %d labels for %d samples of %s", lf, len(labels), src.Len(), path)
		}
	}
	if err := dataset.Validate(src, dataset.ModelInputs(m.Graph)); err != nil {
		return tune.EvalData{}, "", userErrorf("--eval %s does not fit the model: %v", path, err)
	}
	if n := c.Int("eval-limit"); n > 0 && n < src.Len() {
		src = limitSource(src, n)
		if labels != nil {
			labels = labels[:n]
		}
	}
	desc := fmt.Sprintf("%d sample(s) of %s", src.Len(), path)
	if labels != nil {
		desc += " with labels"
	}
	return tune.EvalData{Source: src, Labels: labels, Output: c.String("logits"), Tensors: splitList(c.StringSlice("measure"))}, desc, nil
}

func limitSource(src dataset.Source, n int) dataset.Source {
	if n <= 0 || n >= src.Len() {
		return src
	}
	s, _ := dataset.Slice(src, 0, n)
	return s
}

// stages draws one progress bar per stage of a tune session.
type stages struct {
	c     *cli.Context
	stage string
	bar   *progress.Bar
	done  int
}

func (s *stages) update(stage string, done, total int) {
	if stage != s.stage {
		s.bar.Finish()
		t := int64(total)
		if t <= 0 {
			t = -1
		}
		s.bar, s.stage, s.done = newProgress(s.c, t, stage), stage, 0
	}
	if done > s.done {
		s.bar.Add(int64(done - s.done))
		s.done = done
	}
}

func (s *stages) finish() { s.bar.Finish() }

// backendOf returns the measuring backend the --engine flag names.
func backendOf(c *cli.Context) (tune.Backend, error) {
	e, err := evaluate.ParseEngine(c.String("engine"))
	if err != nil {
		return nil, userErrorf("--engine: %v", err)
	}
	if c.Int(threadsFlag.Name) < 0 {
		return nil, userErrorf("--threads is %d, want >= 0 (0: one per core)", c.Int(threadsFlag.Name))
	}
	b, err := tune.NewBackend(e, c.String(ortLibFlag.Name), c.Int(threadsFlag.Name))
	if err != nil {
		return nil, userErrorf("--engine %s: %v", e, err)
	}
	return b, nil
}

// withoutFlags drops the named flags from a list.
func withoutFlags(flags []cli.Flag, names ...string) []cli.Flag {
	var out []cli.Flag
	for _, f := range flags {
		drop := false
		for _, n := range names {
			if hasName(f, n) {
				drop = true
			}
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

func analyzeCommand() *cli.Command {
	flags := append(dataFlags("calib", "calibration samples"), evalFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "report", Usage: "`DIR` to write the report to: index.html with SVG plots, report.json"},
		&cli.StringFlag{Name: "precision", Value: "int8", Usage: "precision the layers are quantized to: int8, int4 (weights) or int16 (activations)"},
		&cli.IntFlag{Name: "top", Value: 20, Usage: "layers to list in the text output (0: all)"},
		jsonFlag)
	flags = append(flags, measureFlags()...)
	flags = append(flags, withoutFlags(quantFlags(), "weight-bits", "act-bits")...)
	return &cli.Command{
		Name:      "analyze",
		Usage:     "per-layer quantization sensitivity: which layers cost accuracy, with an HTML report",
		ArgsUsage: "MODEL",
		Description: "Calibrates MODEL once, then measures every layer (a quantized compute node with the\n" +
			"activation fused into it) quantized alone and left alone in float while the rest is\n" +
			"quantized: output SQNR against the float model on the evaluation data and, when it has\n" +
			"labels, top-1. Layers are ranked by the SQNR with the layer quantized alone, lowest\n" +
			"first. The trade-off curve keeps the 1, 2, 4, ... most sensitive layers in float.\n" +
			"--report DIR writes index.html (sensitivity bars, activation histograms with their\n" +
			"clipping ranges, the accuracy / size curve) and report.json.",
		Flags:  flags,
		Action: analyzeAction,
	}
}

func analyzeAction(c *cli.Context) error {
	m, in, err := loadModelArg(c)
	if err != nil {
		return err
	}
	prec := tune.Precision(c.String("precision"))
	if prec != tune.Int4 && prec != tune.Int8 && prec != tune.Int16 {
		return userErrorf("--precision %q: want int8, int4 or int16", prec)
	}
	cfg, err := quantConfig(c)
	if err != nil {
		return err
	}
	if cfg.WeightBits != 8 || cfg.ActBits != 8 {
		return userErrorf("analyze sets the bit widths itself (--precision): the config's weight_bits and act_bits must be 8")
	}
	calib, eval, evalDesc, err := openCalibEval(c, m, in, cfg)
	if err != nil {
		return err
	}
	backend, err := backendOf(c)
	if err != nil {
		return err
	}
	st := &stages{c: c}
	s, err := tune.NewSession(m, calib, eval, cfg, tune.Options{Backend: backend, Opset21: prec != tune.Int8, Progress: st.update})
	if err != nil {
		st.finish()
		return userErrorf("%s: %v", in, err)
	}
	a, err := tune.Analyze(s, tune.AnalyzeOptions{Precision: prec})
	st.finish()
	if err != nil {
		return userErrorf("%s: %v", in, err)
	}
	res := analyzeResult{Model: in, Eval: evalDesc, Analysis: a}
	if dir := c.String("report"); dir != "" {
		page := &report.Page{Title: "onnxq analyze: " + filepath.Base(in), Model: in, Analysis: a,
			Notes: []string{"Evaluation data: " + evalDesc + "."}}
		if err := report.Write(dir, page, report.Options{}); err != nil {
			return err
		}
		res.Report = filepath.Join(dir, "index.html")
	}
	return writeResult(c, res, func(c *cli.Context) error { return res.writeText(c.App.Writer, c.Int("top")) })
}

// analyzeResult is what `onnxq analyze --json` prints.
type analyzeResult struct {
	Model  string `json:"model"`
	Eval   string `json:"evaluation_data"`
	Report string `json:"report,omitempty"`
	*tune.Analysis
}

func (r analyzeResult) writeText(w io.Writer, top int) error {
	a := r.Analysis
	fmt.Fprintf(w, "%s: %d layers, measured on %s\n", r.Model, len(a.Layers), r.Eval)
	fmt.Fprintf(w, "float: top-1 %s, %d bytes; all layers %s: SQNR %s dB, top-1 %s, %d bytes\n\n",
		pctOf(a.Float.Top1), a.Float.Size, a.Precision, dB(a.Quantized.SQNR), pctOf(a.Quantized.Top1), a.Quantized.Size)
	ls := a.Layers
	if top > 0 && len(ls) > top {
		fmt.Fprintf(w, "most sensitive layers (%d of %d; --top 0 lists all):\n", top, len(ls))
		ls = ls[:top]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rank\tlayer\top\tweights\tSQNR alone\ttop-1 alone\tSQNR left float\tgain dB\ttop-1 left float\t")
	floatAlone := 0
	for _, l := range ls {
		alone := dB(l.Alone.SQNR)
		if l.FloatAlone {
			alone, floatAlone = "float*", floatAlone+1
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", l.Rank, l.Name, l.Op, l.Params, alone, pctOf(l.Alone.Top1), dB(l.LeftFloat.SQNR), dB(l.Gain), pctOf(l.LeftFloat.Top1))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if floatAlone > 0 {
		fmt.Fprintln(w, "* quantized alone, the layer stays in float: the quantizer keeps it in float between float neighbours")
	}
	fmt.Fprintln(w, "\ntrade-off (most sensitive layers left in float):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tSQNR dB\ttop-1\tbytes\t")
	for _, p := range a.Curve {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t\n", p.Label, dB(p.SQNR), pctOf(p.Top1), p.Size)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Report != "" {
		fmt.Fprintf(w, "\nreport: %s\n", r.Report)
	}
	return nil
}

func pctOf(x *float64) string {
	if x == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100**x)
}
