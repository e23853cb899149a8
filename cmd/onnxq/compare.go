package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/tune"
)

func compareCommand() *cli.Command {
	return &cli.Command{
		Name:      "compare",
		Usage:     "compare a model with another (float with quantized) tensor by tensor: where does it drift?",
		ArgsUsage: "A.onnx B.onnx",
		Description: "Runs both models on every sample with onnxq's engine and measures B against A: for each\n" +
			"output and each intermediate tensor of A that B also computes, the SQNR (signal to\n" +
			"quantization noise, dB), max and mean absolute error and cosine similarity, over all\n" +
			"samples. A tensor V of a float model is matched with V_dequantized in its QDQ model\n" +
			"(the quantized form, as insert-qdq writes it) or else with V. Tensors are listed worst\n" +
			"SQNR first (--sort local: by the noise a tensor adds on top of its inputs, which points\n" +
			"at the layer where the error enters; --sort order: in model order).",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "top", Value: 20, Usage: "tensors to list in the text output (0: all)"},
			&cli.StringFlag{Name: "sort", Value: "sqnr", Usage: "order of the tensors: sqnr (worst first), local (where most noise is added first) or order (model order)"},
			&cli.IntFlag{Name: "max-memory", Value: 1024, Usage: "`MiB` of reference tensors held per sample (more tensors than fit cost extra runs)"},
			threadsFlag,
			jsonFlag,
		}, sampleFlags()...),
		Action: compareAction,
	}
}

func compareAction(c *cli.Context) error {
	if c.NArg() != 2 {
		return userErrorf("compare takes two models A.onnx B.onnx, got %d argument(s); see 'onnxq compare --help'", c.NArg())
	}
	pathA, pathB := c.Args().Get(0), c.Args().Get(1)
	sortBy := c.String("sort")
	if sortBy != "sqnr" && sortBy != "local" && sortBy != "order" {
		return userErrorf("--sort %q: want sqnr, local or order", sortBy)
	}
	if c.Int(threadsFlag.Name) < 0 {
		return userErrorf("--threads is %d, want >= 0 (0: one per core)", c.Int(threadsFlag.Name))
	}
	ma, err := evaluate.Open(pathA, evaluate.Options{Engine: evaluate.EngineGo, Threads: c.Int(threadsFlag.Name)})
	if err != nil {
		return userErrorf("%v", err)
	}
	defer ma.Close()
	b, err := graph.FromFile(pathB)
	if err != nil {
		return userErrorf("%v", err)
	}
	if _, err := engine.Compile(b); err != nil {
		return userErrorf("%s: %v", pathB, err)
	}
	set, err := openSamples(c, ma, "", "", false)
	if err != nil {
		return err
	}
	bar := newProgress(c, int64(set.Source.Len()), "compare")
	res, err := tune.Compare(ma.Graph, b, set.Source, tune.CompareOptions{
		MaxBytes: int64(c.Int("max-memory")) << 20,
		Progress: func(done, total int) { bar.Add(1) },
	})
	bar.Finish()
	if err != nil {
		return userErrorf("%v", err)
	}
	switch sortBy {
	case "local":
		tune.SortLocal(res.Tensors)
	case "order":
		sortByOrder(res.Tensors)
	}
	out := compareResult{A: pathA, B: pathB, Data: set.Describe, Comparison: res}
	return writeResult(c, out, func(c *cli.Context) error { return out.writeText(c.App.Writer, c.Int("top"), sortBy) })
}

// compareResult is what `onnxq compare --json` prints.
type compareResult struct {
	A    string `json:"a"`
	B    string `json:"b"`
	Data string `json:"data"`
	*tune.Comparison
}

func sortByOrder(rs []tune.TensorResult) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Order < rs[j-1].Order; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

func (r compareResult) writeText(w io.Writer, top int, sortBy string) error {
	fmt.Fprintf(w, "%s against %s on %s: %d outputs and %d intermediate tensors compared, %d not matched\n\n",
		r.B, r.A, r.Data, len(r.Outputs), len(r.Tensors), r.Unmatched)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "output\tSQNR dB\tmax abs\tmean abs\tcosine\t")
	for _, o := range r.Outputs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.6f\t\n", o.Name, dB(o.SQNR), o.MaxAbs, o.MeanAbs, float64(o.Cosine))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ts := r.Tensors
	what := map[string]string{"sqnr": "worst SQNR first", "local": "most noise added first", "order": "in model order"}[sortBy]
	if top > 0 && len(ts) > top {
		fmt.Fprintf(w, "\ntensors, %s (%d of %d; --top 0 lists all):\n", what, top, len(ts))
		ts = ts[:top]
	} else {
		fmt.Fprintf(w, "\ntensors, %s:\n", what)
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\ttensor\top\tSQNR dB\tlocal dB\tmax abs\tmean abs\tcosine\t")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.6f\t\n", t.Order, t.Name, t.Op, dB(t.SQNR), dB(t.LocalSQNR), t.MaxAbs, t.MeanAbs, float64(t.Cosine))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if worst := firstDrift(r.Tensors); worst != nil {
		fmt.Fprintf(w, "\nmost noise enters at %s (%s, node %s): local SQNR %s dB, SQNR %s dB\n", worst.Name, worst.Op, worst.Node, dB(worst.LocalSQNR), dB(worst.SQNR))
	}
	for name, why := range r.Skipped {
		fmt.Fprintf(w, "not compared: %s: %s\n", name, why)
	}
	return nil
}

// firstDrift returns the tensor with the lowest local SQNR.
func firstDrift(ts []tune.TensorResult) *tune.TensorResult {
	var best *tune.TensorResult
	for i := range ts {
		if best == nil || float64(ts[i].LocalSQNR) < float64(best.LocalSQNR) {
			best = &ts[i]
		}
	}
	return best
}

// dB formats a decibel value for text output.
func dB(x tune.Num) string {
	s := x.String()
	if s == "inf" || s == "-inf" {
		return s
	}
	return fmt.Sprintf("%.2f", float64(x))
}
