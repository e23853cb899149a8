package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/report"
	"github.com/onnxq/onnxq/rewrite"
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
		if !c.IsSet("max-drop") && !c.IsSet("min-sqnr") {
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
	if err := checkOutput(in, out); err != nil {
		return err
	}
	if c.String("stats") != "" {
		return userErrorf("--stats does not combine with a budget: the search calibrates every tensor itself")
	}
	var budget tune.Budget
	if c.IsSet("max-drop") {
		d := c.Float64("max-drop")
		if d < 0 {
			return userErrorf("--max-drop %g: want >= 0 points", d)
		}
		budget.MaxDrop = &d
	}
	if c.IsSet("min-sqnr") {
		s := c.Float64("min-sqnr")
		budget.MinSQNR = &s
	}
	precs, err := tune.ParsePrecisions(c.String("precisions"))
	if err != nil {
		return userErrorf("--precisions: %v", err)
	}
	cfg, err := quantConfig(c)
	if err != nil {
		return err
	}
	if cfg.WeightBits != 8 || cfg.ActBits != 8 {
		return userErrorf("a budget chooses the bit widths per layer (--precisions): leave --weight-bits and --act-bits at 8")
	}
	if err := ptq.CheckNodes(m, cfg); err != nil {
		return userErrorf("%s: %v", in, err)
	}
	// The search normalizes m; the written model is made from this copy
	// by the same flow as 'insert-qdq --config'.
	orig, err := tune.NewSnapshot(m)
	if err != nil {
		return err
	}
	calib, _, err := openData(c, "calib", m, "")
	if err != nil {
		return err
	}
	eval, evalDesc, err := openEval(c, m, calib)
	if err != nil {
		return err
	}
	if budget.MaxDrop != nil && eval.Labels == nil {
		return userErrorf("--max-drop needs labelled evaluation data: --eval with a labels array (.npz) or --eval-labels")
	}
	verify, err := backendOf(c)
	if err != nil {
		return err
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
		return userErrorf("%s: %v", in, err)
	}
	res, err := tune.Search(s, tune.SearchOptions{Budget: budget, Precisions: precs})
	st.finish()
	if err != nil {
		return userErrorf("%s: %v", in, err)
	}
	// Write the model exactly as insert-qdq --config CONFIG would.
	final, err := orig.Model()
	if err != nil {
		return err
	}
	fcfg, err := s.ConfigOf(res.Variant.Config)
	if err != nil {
		return err
	}
	pres, err := ptq.Quantize(final, calib, fcfg)
	if err != nil {
		return userErrorf("%s: %v", in, err)
	}
	meas, err := s.Verify(final)
	if err != nil {
		return userErrorf("%s: measuring the written model: %v", in, err)
	}
	if err := final.Save(out); err != nil {
		return err
	}
	cfgPath := c.String("save-config")
	if cfgPath == "" {
		cfgPath = strings.TrimSuffix(out, filepath.Ext(out)) + ".config.json"
	}
	if err := ptq.SaveConfig(cfgPath, res.Variant.Config); err != nil {
		return err
	}
	rep := budgetReport{Search: res, Final: meas, MeetsFinal: budget.Meets(meas, res.FloatTop1), Config: cfgPath, Result: pres}
	if rp := c.String("report"); rp != "" {
		if err := writeJSONFile(rp, rep); err != nil {
			return err
		}
	}
	if dir := c.String("html"); dir != "" {
		page := &report.Page{Title: "onnxq insert-qdq: " + filepath.Base(in) + ", " + budget.String(), Model: in, Search: res,
			Notes: []string{"Evaluation data: " + evalDesc + ".", fmt.Sprintf("Written: %s (%d bytes), config %s.", out, meas.Size, cfgPath)}}
		if err := report.Write(dir, page, report.Options{}); err != nil {
			return err
		}
	}
	return writeResult(c, rep, func(c *cli.Context) error {
		w := c.App.Writer
		fmt.Fprintf(w, "budget %s on %s (%s engine)\n", budget, evalDesc, c.String("engine"))
		fmt.Fprintf(w, "%s\n", res.Why)
		fmt.Fprintf(w, "wrote %s: %d bytes, layers %s; SQNR %s dB", out, meas.Size, tune.DescribeSettings(res.Chosen), dB(meas.SQNR))
		if meas.Top1 != nil && res.FloatTop1 != nil {
			fmt.Fprintf(w, ", top-1 %.2f%% (float %.2f%%)", 100**meas.Top1, 100**res.FloatTop1)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "config: %s (insert-qdq --config %s%s reproduces the model)\n", cfgPath, cfgPath, extraFlags(cfg))
		if !rep.MeetsFinal {
			fmt.Fprintf(w, "warning: the written model does not keep the budget (%s)\n", budget)
		}
		return nil
	})
}

// extraFlags are the flags a run used that a config file cannot hold:
// 'insert-qdq --config' needs them too to reproduce the model.
func extraFlags(cfg ptq.Config) string {
	var s string
	if cfg.WeightMethod != "" && cfg.WeightMethod != ptq.WeightMinMax {
		s += " --weight-method " + string(cfg.WeightMethod)
	}
	if cfg.Placement != "" && cfg.Placement != rewrite.PlaceSpeed {
		s += " --placement " + string(cfg.Placement)
	}
	return s
}
