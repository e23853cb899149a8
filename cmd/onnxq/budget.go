package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/report"
	"github.com/onnxq/onnxq/tune"
)

// withBudget adds the mixed-precision budget flags (--max-drop,
// --min-sqnr and what they need) to insert-qdq. Without a budget the
// command runs as before; with one, budgetAction chooses a precision per
// layer first.
func withBudget(cmd *cli.Command) *cli.Command {
	cmd.Flags = append(cmd.Flags, budgetFlags()...)
	plain := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if !hasBudget(c) {
			for _, f := range []string{"precisions", "save-config", "html", "eval", "eval-labels", "sensitivity-samples", "engine"} {
				if c.IsSet(f) {
					return userErrorf("--%s applies to a budget: give --max-drop or --min-sqnr", f)
				}
			}
			return plain(c)
		}
		return budgetAction(c)
	}
	cmd.Description = strings.TrimSpace(cmd.Description + "\n\n" +
		"With a budget (--max-drop POINTS of top-1, needing labelled --eval data, or --min-sqnr DB of\n" +
		"every output), insert-qdq chooses per layer among --precisions (int4, int8, int16, float),\n" +
		"cheapest first, so that the written model keeps the budget on the evaluation data. It\n" +
		"writes the chosen map to a config file (--save-config) that 'insert-qdq --config' and\n" +
		"'finetune --config' accept back, and to the --report JSON and the --html report.")
	return cmd
}

func budgetFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.Float64Flag{Name: "max-drop", Usage: "mixed precision: largest top-1 loss allowed, in `POINTS` (needs labelled --eval data)"},
		&cli.Float64Flag{Name: "min-sqnr", Usage: "mixed precision: lowest SQNR allowed for every output, in `DB`"},
		&cli.StringFlag{Name: "precisions", Value: "int4,int8,int16,float", Usage: "precisions a budget may choose per layer"},
		&cli.StringFlag{Name: "save-config", Usage: "`FILE` for the chosen per-layer config (default: the output's name with .config.json)"},
		&cli.StringFlag{Name: "html", Usage: "`DIR` for an HTML report of the budget search"},
		&cli.IntFlag{Name: "sensitivity-samples", Value: 500, Usage: "evaluation samples the per-layer measurements use (the budget is checked on all)"},
	}
	flags = append(flags, evalFlags()...)
	return append(flags, measureFlags()...)
}

// budgetReport is the --report JSON of a budgeted run.
type budgetReport struct {
	Search *tune.SearchResult `json:"search"`
	// Final is the written model measured like the search's models.
	Final      *tune.Measurement `json:"final"`
	MeetsFinal bool              `json:"final_meets_budget"`
	Config     string            `json:"config_file"`
	*ptq.Result
}

func budgetAction(c *cli.Context) error {
	m, in, err := loadModelArg(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	if c.String("stats") != "" {
		return userErrorf("--stats does not combine with a budget: the search calibrates every tensor itself")
	}
	budget, precs, err := parseBudget(c)
	if err != nil {
		return err
	}
	cfg, err := quantConfig(c)
	if err != nil {
		return err
	}
	if err := budgetBits(cfg); err != nil {
		return err
	}
	calib, eval, evalDesc, err := openCalibEval(c, m, in, cfg)
	if err != nil {
		return err
	}
	br, err := searchBudget(c, m, in, cfg, calib, eval, budget, precs)
	if err != nil {
		return err
	}
	if err := br.Model.Save(out); err != nil {
		return err
	}
	cfgPath, err := saveBudgetFiles(c, in, out, evalDesc, br)
	if err != nil {
		return err
	}
	rep := br.report(cfgPath)
	if rp := c.String("report"); rp != "" {
		if err := writeJSONFile(rp, rep); err != nil {
			return err
		}
	}
	return writeResult(c, rep, func(c *cli.Context) error {
		w := c.App.Writer
		res, meas := br.Search, br.Final
		fmt.Fprintf(w, "budget %s on %s (%s engine)\n", budget, evalDesc, c.String("engine"))
		fmt.Fprintf(w, "%s\n", res.Why)
		fmt.Fprintf(w, "wrote %s: %d bytes, layers %s; SQNR %s dB", out, meas.Size, tune.DescribeSettings(res.Chosen), dB(meas.SQNR))
		if meas.Top1 != nil && res.FloatTop1 != nil {
			fmt.Fprintf(w, ", top-1 %.2f%% (float %.2f%%)", 100**meas.Top1, 100**res.FloatTop1)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "config: %s (insert-qdq --config %s reproduces the model)\n", cfgPath, cfgPath)
		if !rep.MeetsFinal {
			fmt.Fprintf(w, "warning: the written model does not keep the budget (%s)\n", budget)
		}
		return nil
	})
}

// hasBudget reports whether the flags ask for a budget.
func hasBudget(c *cli.Context) bool { return c.IsSet("max-drop") || c.IsSet("min-sqnr") }

// parseBudget reads the budget (--max-drop, --min-sqnr) and the
// precisions it may choose (--precisions).
func parseBudget(c *cli.Context) (tune.Budget, []tune.Precision, error) {
	var budget tune.Budget
	if c.IsSet("max-drop") {
		d := c.Float64("max-drop")
		if d < 0 {
			return budget, nil, userErrorf("--max-drop %g: want >= 0 points", d)
		}
		budget.MaxDrop = &d
	}
	if c.IsSet("min-sqnr") {
		s := c.Float64("min-sqnr")
		budget.MinSQNR = &s
	}
	precs, err := tune.ParsePrecisions(c.String("precisions"))
	if err != nil {
		return budget, nil, userErrorf("--precisions: %v", err)
	}
	return budget, precs, nil
}

// budgetBits refuses bit widths a budget chooses itself.
func budgetBits(cfg ptq.Config) error {
	if cfg.WeightBits != 8 || cfg.ActBits != 8 {
		return userErrorf("a budget chooses the bit widths per layer (--precisions): leave --weight-bits and --act-bits at 8")
	}
	return nil
}

// budgetRun is a budget search and the model it chose, quantized as
// 'insert-qdq --config' would and measured like the search's models.
type budgetRun struct {
	Budget tune.Budget
	Search *tune.SearchResult
	// Model is the chosen model, Result its PTQ report and Final its
	// measurement.
	Model  *graph.Model
	Result *ptq.Result
	Final  *tune.Measurement
}

// searchBudget runs insert-qdq's budget search for float model m (which
// it normalizes) calibrated on calib and measured on eval, and builds the
// chosen model from a copy of m made first. Errors name where.
func searchBudget(c *cli.Context, m *graph.Model, where string, cfg ptq.Config, calib dataset.Source, eval tune.EvalData, budget tune.Budget, precs []tune.Precision) (*budgetRun, error) {
	if budget.MaxDrop != nil && eval.Labels == nil {
		return nil, userErrorf("--max-drop needs labelled evaluation data: --eval with a labels array (.npz) or --eval-labels")
	}
	// The search normalizes m; the written model is made from this copy
	// by the same flow as 'insert-qdq --config'.
	orig, err := tune.NewSnapshot(m)
	if err != nil {
		return nil, err
	}
	verify, err := backendOf(c)
	if err != nil {
		return nil, err
	}
	opset21 := false
	for _, p := range precs {
		opset21 = opset21 || p == tune.Int4 || p == tune.Int16
	}
	st := &stages{c: c}
	s, err := tune.NewSession(m, calib, eval, cfg, tune.Options{Backend: tune.GoBackend, Verify: verify,
		MeasureSamples: c.Int("sensitivity-samples"), Opset21: opset21, Progress: st.update})
	if err != nil {
		st.finish()
		return nil, userErrorf("%s: %v", where, err)
	}
	res, err := tune.Search(s, tune.SearchOptions{Budget: budget, Precisions: precs})
	st.finish()
	if err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	// Build the model exactly as insert-qdq --config CONFIG would.
	final, err := orig.Model()
	if err != nil {
		return nil, err
	}
	fcfg, err := s.ConfigOf(res.Variant.Config)
	if err != nil {
		return nil, err
	}
	pres, err := ptq.Quantize(final, calib, fcfg)
	if err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	meas, err := s.Verify(final)
	if err != nil {
		return nil, userErrorf("%s: measuring the written model: %v", where, err)
	}
	return &budgetRun{Budget: budget, Search: res, Model: final, Result: pres, Final: meas}, nil
}

// saveBudgetFiles writes what a budget search leaves besides the model:
// the chosen per-layer config (--save-config, default OUT.config.json) and
// with --html the HTML report. It returns the config file's path.
func saveBudgetFiles(c *cli.Context, in, out, evalDesc string, br *budgetRun) (string, error) {
	cfgPath := budgetConfigPath(c)
	if err := ptq.SaveConfig(cfgPath, br.Search.Variant.Config); err != nil {
		return "", err
	}
	if dir := c.String("html"); dir != "" {
		page := &report.Page{Title: "onnxq " + c.Command.Name + ": " + filepath.Base(in) + ", " + br.Budget.String(), Model: in, Search: br.Search,
			Notes: []string{"Evaluation data: " + evalDesc + ".", fmt.Sprintf("Written: %s (%d bytes), config %s.", out, br.Final.Size, cfgPath)}}
		if err := report.Write(dir, page, report.Options{}); err != nil {
			return "", err
		}
	}
	return cfgPath, nil
}

// report is the --report JSON of the run, whose config went to cfgPath.
func (br *budgetRun) report(cfgPath string) budgetReport {
	return budgetReport{Search: br.Search, Final: br.Final, MeetsFinal: br.Budget.Meets(br.Final, br.Search.FloatTop1), Config: cfgPath, Result: br.Result}
}
