package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
)

// Flags that run and eval share: the engine, and where samples come from
// (besides the shared --data conventions of data.go, --mnist reads MNIST
// idx images for any model with one input, with a pixel --scale).
var (
	engineFlag = &cli.StringFlag{Name: "engine", Value: "go",
		Usage: "engine that runs the model: go (built in) or ort (ONNX Runtime, loaded from --ort-lib or $ONNXRUNTIME_LIB)"}
	ortLibFlag  = &cli.StringFlag{Name: "ort-lib", Usage: "`PATH` of libonnxruntime.so for --engine ort (default $ONNXRUNTIME_LIB)"}
	threadsFlag = &cli.IntFlag{Name: "threads", Usage: "threads the engine computes on (0: one per core)"}
	batchFlag   = &cli.IntFlag{Name: "batch", Value: 1,
		Usage: "samples per engine call, joined on the first axis (models whose inputs have a dynamic batch dimension only)"}
	runDataFlag = &cli.StringFlag{Name: "data", Aliases: []string{"d"},
		Usage: "`IN.npz` with one array per model input (first axis: samples), a folder of ONNX test_data_set_N folders, an image folder or an MNIST idx file (with --preprocess)"}
	mnistFlag = &cli.StringFlag{Name: "mnist", Usage: "MNIST idx3 image file (`IMAGES.gz`), fed to the model's single input as float32 pixels times --scale"}
	scaleFlag = &cli.Float64Flag{Name: "scale", Value: 1, Usage: "factor applied to --mnist pixels (1 keeps raw 0..255 values, as mnist-7 expects; 1/255 maps to 0..1)"}
)

func engineFlags() []cli.Flag { return []cli.Flag{engineFlag, ortLibFlag, threadsFlag, batchFlag} }

func sampleFlags() []cli.Flag {
	return []cli.Flag{runDataFlag, preprocessFlag, mnistFlag, scaleFlag, limitFlag, offsetFlag}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a model on every sample of a data set and write the outputs to an .npz",
		ArgsUsage: "MODEL",
		Description: "Each array of IN.npz is named after a model input and its first axis indexes runs:\n" +
			"slice i is one complete input tensor (for mnist-7, float32 [N,1,1,28,28]). OUT.npz holds\n" +
			"each model output stacked the same way ([N, ...output shape]), written deterministically.\n" +
			"--data may also name a folder of ONNX test_data_set_N folders; --mnist and --images read\n" +
			"MNIST idx files and image folders. The default engine is onnxq's own; --engine ort runs\n" +
			"ONNX Runtime from --ort-lib or $ONNXRUNTIME_LIB. A model with operators the engine lacks\n" +
			"fails before any sample runs, with one error listing them all.",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`OUT.npz` to write (required)"},
			&cli.BoolFlag{Name: "compress", Usage: "deflate the .npz entries (as np.savez_compressed)"},
			jsonFlag,
		}, sampleFlags()...), engineFlags()...),
		Action: runAction,
	}
}

// runResult is what `onnxq run --json` prints.
type runResult struct {
	Model   string        `json:"model"`
	Engine  string        `json:"engine"`
	Data    string        `json:"data"`
	Output  string        `json:"output_file"`
	Samples int           `json:"samples"`
	Seconds float64       `json:"seconds"`
	Outputs []arrayResult `json:"outputs"`
}

type arrayResult struct {
	Name     string  `json:"name"`
	ElemType string  `json:"elem_type"`
	Shape    []int64 `json:"shape"`
}

func runAction(c *cli.Context) error {
	path, err := oneArg(c, "MODEL")
	if err != nil {
		return err
	}
	out := c.String("output")
	if out == "" {
		return userErrorf("run: missing -o OUT.npz; see 'onnxq run --help'")
	}
	m, opts, err := openModel(c, path)
	if err != nil {
		return err
	}
	defer m.Close()
	set, err := openSamples(c, m, "", "", false)
	if err != nil {
		return err
	}
	bar := newProgress(c, int64(set.Source.Len()), "run")
	opts.Progress = progressTo(bar)
	start := time.Now()
	arrays, err := m.RunAll(set.Source, opts)
	bar.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	secs := time.Since(start).Seconds()
	if err := dataset.WriteNpz(out, arrays, dataset.NpzOptions{Compress: c.Bool("compress")}); err != nil {
		return err
	}
	r := runResult{Model: path, Engine: string(m.Engine), Data: set.Describe, Output: out, Samples: set.Source.Len(), Seconds: secs}
	names := make([]string, 0, len(arrays))
	for n := range arrays {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.Outputs = append(r.Outputs, arrayResult{Name: n, ElemType: arrays[n].DType.String(), Shape: arrays[n].Shape})
	}
	return writeResult(c, r, func(c *cli.Context) error { return r.writeText(c.App.Writer) })
}

func (r runResult) writeText(w io.Writer) error {
	fmt.Fprintf(w, "ran %s on %s with the %s engine in %.3g s; wrote %s\n\n", r.Model, r.Data, r.Engine, r.Seconds, r.Output)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "array\ttype\tshape")
	for _, a := range r.Outputs {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", a.Name, a.ElemType, a.Shape)
	}
	return tw.Flush()
}

// openModel loads the model into the engine the flags choose.
func openModel(c *cli.Context, path string) (*evaluate.Model, evaluate.EachOptions, error) {
	var opts evaluate.EachOptions
	eng, err := evaluate.ParseEngine(c.String(engineFlag.Name))
	if err != nil {
		return nil, opts, userErrorf("--engine: %v", err)
	}
	if opts.Batch = c.Int(batchFlag.Name); opts.Batch < 1 {
		return nil, opts, userErrorf("--batch is %d, want >= 1", opts.Batch)
	}
	if c.Int(threadsFlag.Name) < 0 {
		return nil, opts, userErrorf("--threads is %d, want >= 0 (0: one per core)", c.Int(threadsFlag.Name))
	}
	m, err := evaluate.Open(path, evaluate.Options{Engine: eng, ORTLib: c.String(ortLibFlag.Name), Threads: c.Int(threadsFlag.Name)})
	return m, opts, err
}

// samples is an opened data set.
type samples struct {
	Source   dataset.Source
	Labels   []int64               // nil when the data has none
	Tests    *dataset.TestDataSets // set when the data are ONNX test data sets (eval compares outputs)
	Describe string
}

// openSamples opens the data the flags name for model m and checks it
// against the model's inputs (all of it up front when it is in memory).
// labelKey names the label array of an .npz and labelFile a label file
// (eval); with tests set, a folder of test data sets is opened with its
// expected outputs.
func openSamples(c *cli.Context, m *evaluate.Model, labelKey, labelFile string, tests bool) (*samples, error) {
	data, mnist := c.String(runDataFlag.Name), c.String(mnistFlag.Name)
	var s samples
	var err error
	switch {
	case data != "" && mnist != "":
		return nil, userErrorf("%s: give --data or --mnist, not both", c.Command.Name)
	case mnist != "":
		if s.Source, err = m.OpenMNIST(mnist, float32(c.Float64(scaleFlag.Name))); err != nil {
			return nil, userErrorf("--mnist %s: %v", mnist, err)
		}
		s.Describe = fmt.Sprintf("MNIST images %s", mnist)
	case data == "":
		return nil, userErrorf("%s: no samples: give --data IN.npz (or a test data folder, an image folder, an MNIST idx file) or --mnist IMAGES; see 'onnxq %s --help'", c.Command.Name, c.Command.Name)
	case tests && isDir(data) && hasTestDataSets(data):
		if s.Tests, err = m.OpenTestDataSets(data); err != nil {
			return nil, userErrorf("--data %s: %v", data, err)
		}
		s.Source, s.Describe = s.Tests, fmt.Sprintf("test data sets in %s", data)
	default:
		var inputs []string
		for _, v := range m.Inputs {
			inputs = append(inputs, v.Name)
		}
		if labelFile != "" || isDir(data) {
			labelKey = ""
		}
		if s.Source, s.Labels, err = openSource(data, c.String(preprocessFlag.Name), inputs, labelKey); err != nil {
			return nil, userErrorf("--data %s: %v", data, err)
		}
		s.Describe = data
	}
	if labelFile != "" {
		if s.Labels, err = evaluate.ReadLabels(labelFile); err != nil {
			return nil, userErrorf("labels: %v", err)
		}
		if len(s.Labels) != s.Source.Len() {
			return nil, userErrorf("%s has %d labels for %d samples (%s)", labelFile, len(s.Labels), s.Source.Len(), s.Describe)
		}
	}
	if err := m.Validate(s.Source); err != nil {
		return nil, userErrorf("%s: %v", s.Describe, err)
	}
	if err := s.window(c); err != nil {
		return nil, err
	}
	s.Describe = fmt.Sprintf("%d sample(s) of %s", s.Source.Len(), s.Describe)
	return &s, nil
}

// window applies --offset and --limit.
func (s *samples) window(c *cli.Context) error {
	off, lim := c.Int(offsetFlag.Name), c.Int(limitFlag.Name)
	if off < 0 || lim < 0 {
		return userErrorf("--offset and --limit must not be negative")
	}
	if off == 0 && lim == 0 {
		return nil
	}
	end := s.Source.Len()
	if lim > 0 && off+lim < end {
		end = off + lim
	}
	if off >= end {
		return userErrorf("%s: --offset %d leaves none of its %d samples", s.Describe, off, s.Source.Len())
	}
	if s.Tests != nil {
		return userErrorf("--offset and --limit do not apply when eval compares test data sets with their expected outputs")
	}
	src, err := dataset.Slice(s.Source, off, end)
	if err != nil {
		return err
	}
	s.Source = src
	if s.Labels != nil {
		s.Labels = s.Labels[off:end]
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// progressTo turns a bar into an EachOptions.Progress callback.
func progressTo(bar interface{ Add(int64) }) func(done int) {
	last := 0
	return func(done int) {
		bar.Add(int64(done - last))
		last = done
	}
}
