package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/evaluate"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "measure a classifier's top-1/top-5 accuracy, or a model's agreement with reference outputs",
		ArgsUsage: "MODEL",
		Description: "With --data TEST.npz, the integer array --labels (default \"labels\") holds one class per\n" +
			"sample and is not fed to the model; the other arrays are the model inputs, first axis\n" +
			"indexing samples. The class scores are the model's first output (or --logits NAME), one\n" +
			"row per sample; top-5 is reported when there are at least 5 classes. --mnist IMAGES with\n" +
			"--mnist-labels LABELS reads MNIST idx files (raw 0..255 pixels, as mnist-7 expects;\n" +
			"--scale changes that); --data DIR --preprocess PRESET with --label-file an image folder.\n" +
			"With --data naming a folder of ONNX test_data_set_N folders, eval compares every output\n" +
			"with the expected output_N.pb instead: max abs error, max error relative to the largest\n" +
			"reference magnitude, and cosine similarity.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "labels", Value: "labels", Usage: "`KEY` of the label array in TEST.npz"},
			&cli.StringFlag{Name: "label-file", Aliases: []string{"mnist-labels"},
				Usage: "`FILE` of labels, one per sample: MNIST idx1 (.gz or not), .npy, or text with one integer per line (image folders: in file-name order)"},
			&cli.StringFlag{Name: "logits", Usage: "model output `NAME` holding the class scores (default: the first output)"},
			jsonFlag,
		}, sampleFlags()...), engineFlags()...),
		Action: evalAction,
	}
}

// evalResult is what `onnxq eval --json` prints: the accuracy fields of
// evaluate.Accuracy, or the per-output agreement when the data holds
// reference outputs.
type evalResult struct {
	Model   string  `json:"model"`
	Engine  string  `json:"engine"`
	Data    string  `json:"data"`
	Seconds float64 `json:"seconds"`
	*evaluate.Accuracy
	Agreement map[string]*evaluate.Diff `json:"agreement,omitempty"`
	Samples   int                       `json:"samples"`
}

func evalAction(c *cli.Context) error {
	path, err := oneArg(c, "MODEL")
	if err != nil {
		return err
	}
	m, opts, err := openModel(c, path)
	if err != nil {
		return err
	}
	defer m.Close()
	set, err := openSamples(c, m, c.String("labels"), c.String("label-file"), true)
	if err != nil {
		return err
	}
	if set.Tests == nil && set.Labels == nil {
		return userErrorf("eval: %s has no labels: give an .npz with a --labels array, or --label-file (--mnist-labels)", set.Describe)
	}
	r := evalResult{Model: path, Engine: string(m.Engine), Data: set.Describe, Samples: set.Source.Len()}
	bar := newProgress(c, int64(set.Source.Len()), "eval")
	opts.Progress = progressTo(bar)
	start := time.Now()
	if set.Tests != nil {
		r.Agreement, err = m.CompareExpected(set.Tests, opts)
	} else {
		r.Accuracy, err = m.Accuracy(set.Source, set.Labels, evaluate.AccuracyOptions{Output: c.String("logits"), EachOptions: opts})
	}
	bar.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.Seconds = time.Since(start).Seconds()
	return writeResult(c, r, func(c *cli.Context) error { return r.writeText(c.App.Writer) })
}

func (r evalResult) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s\nengine\t%s\ndata\t%s\n", r.Model, r.Engine, r.Data)
	if a := r.Accuracy; a != nil {
		fmt.Fprintf(tw, "output\t%s (%d classes)\n", a.Output, a.Classes)
		fmt.Fprintf(tw, "top-1\t%.2f%% (%d/%d)\n", 100*a.Top1, a.Top1Correct, a.Samples)
		if a.Top5 != nil {
			fmt.Fprintf(tw, "top-5\t%.2f%% (%d/%d)\n", 100**a.Top5, *a.Top5Correct, a.Samples)
		}
	}
	fmt.Fprintf(tw, "time\t%.3g s (%.3g ms per sample)\n", r.Seconds, 1000*r.Seconds/float64(max(r.Samples, 1)))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Agreement) == 0 {
		return nil
	}
	names := make([]string, 0, len(r.Agreement))
	for n := range r.Agreement {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "output\tmax abs error\tmax rel error\tcosine\tvalues")
	for _, n := range names {
		d := r.Agreement[n]
		fmt.Fprintf(tw, "%s\t%.3g\t%.3g\t%.9f\t%d\n", n, d.MaxAbs, d.MaxRel, d.Cosine, d.Count)
	}
	return tw.Flush()
}
