// Command benchcalib is the measuring side of scripts/bench-calibration.sh:
// how long `onnxq calibrate` takes on N samples with the Go engine, against
// ONNX Runtime 1.30 running the same float model over the same samples,
// both on one thread, and the peak memory (RSS) of each against the
// model's size.
//
//	benchcalib -onnxq BIN [-ort-lib LIB] [-json OUT] [-cases CASES]
//	    run the cases (default: all) and print a table
//	benchcalib ort -model M -calib DATA -preprocess P -limit N
//	    (internal) run M in ONNX Runtime over the samples
//
// Each measurement is a process of its own, so its peak RSS (getrusage's
// ru_maxrss of the child) is its alone: onnxq calibrate runs with
// GOMAXPROCS=1 (the engine and its GEMM then use one thread, and so does
// the garbage collector), ONNX Runtime with one intra-op and one inter-op
// thread. Both sides read the samples from the same source (an MNIST idx
// file or an image folder with a preset) and decode and preprocess them
// the same way. Times are the whole process's: wall time, and CPU time
// (user + system, steadier on a busy machine), covering loading the
// model, preprocessing and running every sample; onnxq's also covers
// normalizing the model and updating the statistics. Each case also runs with one sample, and the
// table shows the time per additional sample, (t(N) - t(1)) / (N - 1),
// which leaves out the fixed start-up costs. Every measurement runs -reps
// times (default 3); the fastest time and the largest peak RSS count.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/scripts/internal/childproc"
)

// benchCase is one model with its data and sample count.
type benchCase struct {
	Name       string `json:"name"`
	Model      string `json:"model"` // key of testdata.RealModels
	Data       string `json:"data"`  // relative to the reference data folder
	Preprocess string `json:"preprocess"`
	N          int    `json:"samples"`
}

// cases are the measured configurations. mnist-7 runs at two sample
// counts to show that calibration memory does not grow with the samples.
var cases = []benchCase{
	{"mnist-7/200", "mnist-7", "mnist/train-images-idx3-ubyte.gz", "mnist-7", 200},
	{"mnist-7/10000", "mnist-7", "mnist/train-images-idx3-ubyte.gz", "mnist-7", 10000},
	{"blazeface-front/10", "blazeface-front", "images", "blazeface-front", 10},
	{"blazeface-back/10", "blazeface-back", "images", "blazeface-back", 10},
	{"ppocr-det-640/10", "ppocr-det", "images", "ppocr-det-640", 10},
}

// run is one measured process.
type run = childproc.Usage

// result is one case measured on both sides.
type result struct {
	benchCase
	ModelBytes int64 `json:"model_bytes"`
	Onnxq      run   `json:"onnxq"`
	Onnxq1     run   `json:"onnxq_one_sample"`
	ORT        run   `json:"ort"`
	ORT1       run   `json:"ort_one_sample"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ort" {
		if err := ortCmd(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "benchcalib ort:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("onnxq", "", "the onnxq binary to measure")
	lib := flag.String("ort-lib", os.Getenv(ort.LibraryEnv), "ONNX Runtime library")
	jsonOut := flag.String("json", "", "also write the results as JSON here")
	only := flag.String("cases", "", "comma-separated case names (default: all)")
	reps := flag.Int("reps", 3, "runs of each measurement; the fastest counts")
	flag.Parse()
	if err := benchAll(*bin, *lib, *jsonOut, *only, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "benchcalib:", err)
		os.Exit(1)
	}
}

func benchAll(bin, lib, jsonOut, only string, reps int) error {
	if bin == "" || lib == "" {
		return fmt.Errorf("need -onnxq BIN and -ort-lib LIB (or $%s)", ort.LibraryEnv)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchcalib")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	want := map[string]bool{}
	for _, c := range strings.Split(only, ",") {
		if c != "" {
			want[c] = true
		}
	}
	var results []result
	for _, c := range cases {
		if len(want) > 0 && !want[c.Name] {
			continue
		}
		model := filepath.Join(testdata.Dir(), testdata.RealModels[c.Model])
		data := filepath.Join(testdata.Dir(), c.Data)
		st, err := os.Stat(model)
		if err != nil {
			return fmt.Errorf("%v: run scripts/fetch-testdata.sh", err)
		}
		r := result{benchCase: c, ModelBytes: st.Size()}
		for _, m := range []struct {
			dst *run
			n   int
			ort bool
		}{{&r.Onnxq1, 1, false}, {&r.Onnxq, c.N, false}, {&r.ORT1, 1, true}, {&r.ORT, c.N, true}} {
			var cmd *exec.Cmd
			if m.ort {
				cmd = exec.Command(self, "ort", "-model", model, "-calib", data, "-preprocess", c.Preprocess, "-limit", fmt.Sprint(m.n))
				cmd.Env = append(os.Environ(), ort.LibraryEnv+"="+lib)
			} else {
				cmd = exec.Command(bin, "-q", "calibrate", model, "--calib", data, "--preprocess", c.Preprocess, "--limit", fmt.Sprint(m.n), "-o", filepath.Join(tmp, "stats.json"))
				cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
			}
			if *m.dst, err = measureBest(cmd, reps); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
		}
		fmt.Fprintf(os.Stderr, "measured %s\n", c.Name)
		results = append(results, r)
	}
	printTable(results)
	if jsonOut != "" {
		data, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return onnxio.WriteFileAtomic(jsonOut, append(data, '\n'))
	}
	return nil
}

// measureBest runs cmd reps times and keeps the least CPU time and wall
// time and the largest peak RSS (childproc.Best).
func measureBest(cmd *exec.Cmd, reps int) (run, error) {
	return childproc.Best(func() *exec.Cmd {
		c := exec.Command(cmd.Args[0], cmd.Args[1:]...)
		c.Env = cmd.Env
		return c
	}, reps, nil)
}

// ortCmd runs a model in ONNX Runtime over the samples (one thread).
func ortCmd(args []string) error {
	fs := flag.NewFlagSet("ort", flag.ExitOnError)
	model := fs.String("model", "", "float model")
	calib := fs.String("calib", "", "MNIST idx file or image folder")
	pre := fs.String("preprocess", "", "preset")
	limit := fs.Int("limit", 0, "samples")
	fs.Parse(args)
	if err := ort.Init(""); err != nil {
		return err
	}
	var src dataset.Source
	var err error
	if p, ok := dataset.MNISTPresets[*pre]; ok {
		src, err = dataset.OpenMNIST(*calib, p)
	} else if p, ok := dataset.ImagePresets[*pre]; ok {
		src, err = dataset.OpenImageFolder(*calib, p)
	} else {
		err = fmt.Errorf("unknown preset %q", *pre)
	}
	if err != nil {
		return err
	}
	if *limit > 0 && *limit < src.Len() {
		if src, err = dataset.Slice(src, 0, *limit); err != nil {
			return err
		}
	}
	s, err := ort.NewSession(*model, ort.Options{Threads: 1})
	if err != nil {
		return err
	}
	defer s.Close()
	for i := 0; i < src.Len(); i++ {
		in, err := src.Sample(i)
		if err != nil {
			return err
		}
		if _, err := s.Run(in); err != nil {
			return err
		}
	}
	return nil
}

func printTable(results []result) {
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	// perSample is the CPU time per additional sample in ms, or NaN when
	// the N samples cost less than noiseCPU more than one sample: below
	// what this measurement can resolve.
	const noiseCPU = 0.05
	perSample := func(all, one float64, n int) float64 {
		if n <= 1 || all-one < noiseCPU {
			return math.NaN()
		}
		return (all - one) / float64(n-1) * 1000
	}
	fmt.Printf("%-19s %6s %7s | %-28s | %-28s | %6s\n", "", "model", "", "onnxq calibrate (Go engine)", "ONNX Runtime 1.30 (float)", "")
	fmt.Printf("%-19s %6s %7s | %6s %6s %7s %7s | %6s %6s %7s %7s | %6s\n",
		"case", "MB", "samples", "wall s", "CPU s", "ms/smp", "RSS MB", "wall s", "CPU s", "ms/smp", "RSS MB", "time x")
	for _, r := range results {
		oq, ox := perSample(r.Onnxq.CPU, r.Onnxq1.CPU, r.N), perSample(r.ORT.CPU, r.ORT1.CPU, r.N)
		fmt.Printf("%-19s %6.2f %7d | %6.2f %6.2f %7.2f %7.1f | %6.2f %6.2f %7.2f %7.1f | %6.2f\n",
			r.Name, mb(r.ModelBytes), r.N, r.Onnxq.Wall, r.Onnxq.CPU, oq, mb(r.Onnxq.PeakRSS), r.ORT.Wall, r.ORT.CPU, ox, mb(r.ORT.PeakRSS), oq/ox)
	}
	fmt.Println("ms/smp: CPU time per additional sample, (cpu(N) - cpu(1)) / (N - 1): start-up left out")
	fmt.Printf("(NaN: the N samples cost less than %.2f s of CPU more than one, below what this resolves).\n", noiseCPU)
	fmt.Println("time x: onnxq's ms/smp over ONNX Runtime's. RSS: peak resident memory of the process.")
}
