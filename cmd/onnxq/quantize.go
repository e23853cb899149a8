package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/calibrate"
	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// quantFlags are the quantization settings shared by insert-qdq,
// calibrate and finetune.
func quantFlags() []cli.Flag {
	d := ptq.Defaults()
	return []cli.Flag{
		&cli.StringFlag{Name: "method", Value: string(d.Method), Usage: "activation range method: auto (per tensor, the least round-trip error), minmax, moving-average, percentile, entropy, mse"},
		&cli.Float64Flag{Name: "percentile", Value: 99.999, Usage: "share of values the percentile method keeps, in percent"},
		&cli.BoolFlag{Name: "per-channel", Value: d.PerChannel, Usage: "one weight scale per output channel (--per-channel=false: one per tensor)"},
		&cli.IntFlag{Name: "weight-bits", Value: 8, Usage: "weight width: 8 or 4"},
		&cli.StringFlag{Name: "weight-method", Usage: "weight scales: minmax (default) or mse (per-channel clipping with the least weight error)"},
		&cli.IntFlag{Name: "act-bits", Value: 8, Usage: "activation width: 8, 16 or 4 (4 and 16 need opset 21)"},
		&cli.BoolFlag{Name: "symmetric-activations", Usage: "signed activations with zero point 0"},
		&cli.StringFlag{Name: "target", Value: string(d.Target), Usage: "runtime profile: ort (U8S8, fused integer kernels) or tensorrt (symmetric int8)"},
		&cli.StringFlag{Name: "placement", Value: "balanced", Usage: "balanced: like speed, with chains of element-wise arithmetic (a decomposed HardSwish) in float; speed: quantize light operators only where that adds no Q/DQ conversions; size: every operator the rules allow"},
		&cli.StringSliceFlag{Name: "exclude-nodes", Usage: "node names to keep in float (comma-separated or repeated)"},
		&cli.StringSliceFlag{Name: "exclude-ops", Usage: "op types to keep in float"},
		&cli.StringFlag{Name: "config", Usage: "JSON config file with settings and per-node overrides (flags given explicitly win)"},
	}
}

// quantConfig builds the typed configuration from the config file and the
// flags.
func quantConfig(c *cli.Context) (ptq.Config, error) {
	return quantConfigFor(c, ptq.Target(c.String("target")))
}

// quantConfigFor is quantConfig with the runtime profile an explicit
// --target stands for given apart (quantize's --target also names export
// targets that are no PTQ profile).
func quantConfigFor(c *cli.Context, target ptq.Target) (ptq.Config, error) {
	cfg := ptq.Defaults()
	if p := c.String("config"); p != "" {
		fc, err := ptq.LoadConfig(p)
		if err != nil {
			return cfg, userErrorf("%v", err)
		}
		if err := fc.Apply(&cfg); err != nil {
			return cfg, userErrorf("config %s: %v", p, err)
		}
	}
	if c.IsSet("method") || c.String("config") == "" {
		m, err := calibrate.ParseMethod(c.String("method"))
		if err != nil {
			return cfg, userErrorf("%v", err)
		}
		cfg.Method = m
	}
	if c.IsSet("percentile") {
		cfg.Percentile = c.Float64("percentile")
	}
	if c.IsSet("per-channel") {
		cfg.PerChannel = c.Bool("per-channel")
	}
	if c.IsSet("weight-bits") {
		cfg.WeightBits = c.Int("weight-bits")
	}
	if c.IsSet("weight-method") {
		cfg.WeightMethod = ptq.WeightMethod(c.String("weight-method"))
	}
	if c.IsSet("act-bits") {
		cfg.ActBits = c.Int("act-bits")
	}
	if c.IsSet("symmetric-activations") {
		cfg.SymmetricActivations = c.Bool("symmetric-activations")
	}
	if c.IsSet("placement") {
		cfg.Placement = rewrite.Placement(c.String("placement"))
	}
	if c.IsSet("target") {
		cfg.Target = target
	}
	cfg.ExcludeNodes = append(cfg.ExcludeNodes, splitList(c.StringSlice("exclude-nodes"))...)
	cfg.ExcludeOps = append(cfg.ExcludeOps, splitList(c.StringSlice("exclude-ops"))...)
	if _, err := cfg.Options(); err != nil {
		return cfg, userErrorf("%v", err)
	}
	return cfg, nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// loadModelArg loads the single MODEL argument.
func loadModelArg(c *cli.Context) (*graph.Model, string, error) {
	if c.NArg() != 1 {
		return nil, "", userErrorf("%s takes one MODEL argument, got %d; see 'onnxq %s --help'", c.Command.Name, c.NArg(), c.Command.Name)
	}
	path := c.Args().First()
	m, err := graph.FromFile(path)
	if err != nil {
		return nil, "", userErrorf("%v", err)
	}
	return m, path, nil
}

// ptqFlags are insert-qdq's flags without a budget (quantize takes them
// too): the calibration data, the output, the report, saved statistics,
// --json and the quantization settings.
func ptqFlags(output, report string) []cli.Flag {
	flags := append(dataFlags("calib", "calibration samples"),
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: output, Required: true},
		&cli.StringFlag{Name: "report", Usage: report},
		&cli.StringFlag{Name: "stats", Usage: "use statistics saved by 'onnxq calibrate' instead of calibrating (--calib still checks the model's inputs)"},
		jsonFlag)
	return append(flags, quantFlags()...)
}

func insertQDQCommand() *cli.Command {
	return &cli.Command{
		Name:      "insert-qdq",
		Usage:     "post-training quantization: calibrate activation ranges and insert QuantizeLinear/DequantizeLinear",
		ArgsUsage: "MODEL",
		Flags: ptqFlags("the quantized model to write",
			"write the JSON report (ranges, scales, zero points, node decisions, bias fixes) here"),
		Action: insertQDQAction,
	}
}

func insertQDQAction(c *cli.Context) error {
	m, in, err := loadModelArg(c)
	if err != nil {
		return err
	}
	out := c.String("output")
	cfg, err := quantConfig(c)
	if err != nil {
		return err
	}
	if err := ptq.CheckNodes(m, cfg); err != nil {
		return userErrorf("%s: %v", in, err)
	}
	src, _, err := openData(c, "calib", m, "")
	if err != nil {
		return err
	}
	res, err := calibrateAndInsert(c, m, in, src, cfg)
	if err != nil {
		return err
	}
	if err := m.Save(out); err != nil {
		return err
	}
	if rp := c.String("report"); rp != "" {
		if err := writeJSONFile(rp, res); err != nil {
			return err
		}
	}
	return writeResult(c, res, func(c *cli.Context) error {
		w := c.App.Writer
		fmt.Fprintf(w, "wrote %s: opset %d, %d nodes quantized, %d left in float, %d tensors with Q/DQ, %d calibration samples (%s)\n",
			out, res.Opset, res.Quantized, res.Float, len(res.Tensors), res.Samples, res.Method)
		for _, f := range res.BiasFixes {
			fmt.Fprintf(w, "bias %s: %s\n", f.Bias, f.Action)
		}
		return nil
	})
}

// calibrateAndInsert is insert-qdq without a budget, on m in place: it
// normalizes m, calibrates it on src (or reads --stats) with a progress
// bar and inserts Q/DQ with cfg. Errors name where (the model, or what
// the caller says).
func calibrateAndInsert(c *cli.Context, m *graph.Model, where string, src dataset.Source, cfg ptq.Config) (*ptq.Result, error) {
	p, err := ptq.Prepare(m, src, cfg)
	if err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	var stats *calibrate.File
	if sp := c.String("stats"); sp != "" {
		if stats, err = calibrate.Load(sp); err != nil {
			return nil, userErrorf("--stats: %v", err)
		}
	} else {
		bar := newProgress(c, int64(src.Len()), "calibrating")
		cfg.Progress = func(done, total int) { bar.Add(1) }
		stats, err = ptq.Calibrate(p.Prog, p.Plan, src, cfg.Progress)
		bar.Finish()
		if err != nil {
			return nil, userErrorf("%s: %v", where, err)
		}
	}
	res, err := p.Finish(stats, cfg)
	if err != nil {
		return nil, userErrorf("%s: %v", where, err)
	}
	return res, nil
}

func calibrateCommand() *cli.Command {
	flags := append(dataFlags("calib", "calibration samples"),
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the statistics file to write (JSON)", Required: true},
		&cli.StringSliceFlag{Name: "merge", Usage: "merge statistics files (shards of one calibration set) into -o instead of calibrating"},
	)
	flags = append(flags, quantFlags()...)
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "calib" {
			c := *sf
			c.Required = false
			flags[i] = &c
		}
	}
	return &cli.Command{
		Name:      "calibrate",
		Usage:     "measure activation statistics (mergeable across shards) for a later insert-qdq --stats",
		ArgsUsage: "MODEL",
		Flags:     flags,
		Action:    calibrateAction,
	}
}

func calibrateAction(c *cli.Context) error {
	out := c.String("output")
	if shards := c.StringSlice("merge"); len(shards) > 0 {
		var files []*calibrate.File
		for _, s := range splitList(shards) {
			f, err := calibrate.Load(s)
			if err != nil {
				return userErrorf("--merge: %v", err)
			}
			files = append(files, f)
		}
		merged, err := calibrate.Merge(files...)
		if err != nil {
			return userErrorf("--merge: %v", err)
		}
		return calibrate.Save(out, merged)
	}
	m, in, err := loadModelArg(c)
	if err != nil {
		return err
	}
	if c.String("calib") == "" {
		return userErrorf("--calib is required (or --merge)")
	}
	cfg, err := quantConfig(c)
	if err != nil {
		return err
	}
	src, _, err := openData(c, "calib", m, "")
	if err != nil {
		return err
	}
	p, err := ptq.Prepare(m, src, cfg)
	if err != nil {
		return userErrorf("%s: %v", in, err)
	}
	bar := newProgress(c, int64(src.Len()), "calibrating")
	stats, err := ptq.Calibrate(p.Prog, p.Plan, src, func(done, _ int) { bar.Add(1) })
	bar.Finish()
	if err != nil {
		return userErrorf("%s: %v", in, err)
	}
	stats.Model = filepath.Base(in)
	return calibrate.Save(out, stats)
}

// writeJSONFile writes v as indented JSON, atomically.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return onnxio.WriteFileAtomic(path, append(data, '\n'))
}
