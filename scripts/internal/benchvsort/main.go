// Command benchvsort is the onnxq and measurement side of
// scripts/bench-vs-ort.sh, the side-by-side benchmark of onnxq against
// ONNX Runtime's own quantizer (onnxruntime.quantization.quantize_static).
//
//	benchvsort prepare -dir DIR [-testdata TD]
//	    preprocess the calibration and held-out inputs of every model into
//	    DIR/data/*.npz and write DIR/manifest.json (read by
//	    scripts/bench_vs_ort.py, which writes DIR/ort/)
//	benchvsort run -dir DIR -onnxq BIN -ort-lib LIB [-json OUT.json]
//	    quantize every model with onnxq (into DIR/onnxq/), then measure the
//	    float model, every ORT variant and every onnxq variant in ONNX
//	    Runtime 1.30 (one thread): fidelity on the held-out inputs, op
//	    types after 'extended' optimization and latency; print one table per
//	    model and write the JSON
//
// See docs/bench-vs-ort.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchvsort prepare|run [flags] (see -h of each)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "prepare":
		err = prepareCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want prepare or run", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchvsort:", err)
		os.Exit(1)
	}
}

func prepareCmd(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	dir := fs.String("dir", "out/bench-vs-ort", "work folder")
	td := fs.String("testdata", testdata.Dir(), "reference data folder (scripts/fetch-testdata.sh)")
	fs.Parse(args)
	abs, err := filepath.Abs(*td)
	if err != nil {
		return err
	}
	return prepare(*dir, abs)
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	dir := fs.String("dir", "out/bench-vs-ort", "work folder (prepare's)")
	bin := fs.String("onnxq", "", "the onnxq binary")
	lib := fs.String("ort-lib", os.Getenv(ort.LibraryEnv), "ONNX Runtime 1.30 library (libonnxruntime.so.1)")
	jsonOut := fs.String("json", "out/bench-vs-ort.json", "write the results here")
	only := fs.String("models", "", "comma-separated model names (default: all)")
	runs := fs.Int("runs", 20, "timed inferences per model (the median is reported)")
	warmup := fs.Int("warmup", 3, "untimed inferences per model first")
	reuse := fs.Bool("reuse-onnxq", false, "measure the onnxq models of an earlier run instead of quantizing again")
	fs.Parse(args)
	if *bin == "" && !*reuse {
		return fmt.Errorf("-onnxq BIN is required")
	}
	man, err := loadManifest(*dir)
	if err != nil {
		return err
	}
	ortRes, err := loadORT(filepath.Join(*dir, "ort"))
	if err != nil {
		return err
	}
	if err := ort.Init(*lib); err != nil {
		return err
	}
	qdir := filepath.Join(*dir, "onnxq")
	tmp := filepath.Join(*dir, "tmp")
	for _, d := range []string{qdir, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	onnxqRes, err := quantizeAll(*bin, man, qdir, *only, *reuse)
	if err != nil {
		return err
	}
	rep := report{
		Machine:    machineInfo(),
		ORTRuntime: ort.Version(), ORTQuantizer: ortRes.ORTVersion, ONNX: ortRes.ONNXVersion,
		Runs: *runs, Warmup: *warmup,
	}
	for _, bm := range benchModels {
		if !selected(*only, bm.Name) {
			continue
		}
		i := slices.IndexFunc(man.Models, func(m manifestModel) bool { return m.Name == bm.Name })
		if i < 0 {
			return fmt.Errorf("model %s is not in %s", bm.Name, filepath.Join(*dir, manifestName))
		}
		mm := man.Models[i]
		cands := []candidate{{ID: "float", Tool: "float", Path: mm.Float}}
		cands = append(cands, ortCandidates(ortRes, bm.Name)...)
		for _, v := range onnxqVariantsFor(*bin, *reuse, qdir, mm) {
			r := onnxqRes[mm.Name][v.ID]
			cands = append(cands, candidate{ID: v.ID, Tool: "onnxq", Path: r.Output, Quant: &r})
		}
		results, err := measureModel(bm, mm, cands, measureOptions{Runs: *runs, Warmup: *warmup, TmpDir: tmp})
		if err != nil {
			return fmt.Errorf("%s: %w", bm.Name, err)
		}
		mr := modelReport{
			Name: bm.Name, Task: bm.Task, Preprocessing: mm.Preprocessing,
			CalibFrom: mm.CalibFrom, EvalFrom: mm.EvalFrom, CalibSamples: mm.CalibSamples, EvalSamples: mm.EvalSamples,
			ORTPrepare: ortRes.Models[bm.Name].Prepare, Results: results,
		}
		mr.Comparisons = compare(bm, results)
		rep.Models = append(rep.Models, mr)
		printModel(os.Stdout, bm, mr)
	}
	printSummary(os.Stdout, rep.Models)
	rep.MachineAfter = machineInfo()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*jsonOut), 0o755); err != nil {
		return err
	}
	if err := onnxio.WriteFileAtomic(*jsonOut, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", *jsonOut)
	return nil
}

// quantizeAll runs the onnxq variants on every selected model (or, with
// reuse, reads their results from DIR/onnxq/onnxq.json) and saves the
// figures there.
func quantizeAll(bin string, man *manifest, qdir, only string, reuse bool) (map[string]map[string]runResult, error) {
	path := filepath.Join(qdir, "onnxq.json")
	res := map[string]map[string]runResult{}
	if reuse {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return res, json.Unmarshal(b, &res)
	}
	for _, mm := range man.Models {
		if selected(only, mm.Name) {
			res[mm.Name] = runOnnxq(bin, mm, qdir, onnxqVariantsFor(bin, false, qdir, mm))
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	return res, onnxio.WriteFileAtomic(path, append(b, '\n'))
}

// onnxqVariantsFor returns the onnxq variants to run: insert-qdq's, its
// int8/float budget search where the model has budget photos, and the
// one-command `onnxq quantize` when the binary has it, with its defaults
// and with that budget (with reuse: the variants an earlier run made
// models for).
func onnxqVariantsFor(bin string, reuse bool, qdir string, mm manifestModel) []onnxqVariant {
	vs := slices.Clone(onnxqVariants)
	var extra []onnxqVariant
	if mm.Budget != "" {
		i := slices.IndexFunc(benchModels, func(b benchModel) bool { return b.Name == mm.Name })
		b := benchModels[i].Budget
		extra = append(extra, onnxqVariant{ID: "onnxq-budget", Command: "insert-qdq", Args: []string{
			"--eval", mm.Budget, "--min-sqnr", strconv.FormatFloat(b.MinSQNR, 'g', -1, 64),
			"--precisions", "int8,float", "--sensitivity-samples", "1"}})
	}
	if reuse || hasCommand(bin, "quantize") {
		extra = append(extra, onnxqVariant{ID: "onnxq-quantize", Command: "quantize"})
		if len(extra) > 1 {
			// The one command with the budget of onnxq-budget: fine-tuned
			// on the calibration photos, judged on the budget photos.
			extra = append(extra, onnxqVariant{ID: "onnxq-quantize-budget", Command: "quantize", Args: extra[0].Args})
		}
	}
	for _, v := range extra {
		if reuse {
			if _, err := os.Stat(filepath.Join(qdir, mm.Name+"."+v.ID+".onnx")); err != nil {
				continue
			}
		}
		vs = append(vs, v)
	}
	return vs
}

func selected(only, name string) bool {
	if only == "" {
		return true
	}
	return slices.Contains(strings.Split(only, ","), name)
}
