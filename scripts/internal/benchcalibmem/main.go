// Command benchcalibmem is the memory case of scripts/bench-calibration.sh:
// the peak RSS of the static onnxq binary calibrating PP-OCRv4 det at a
// fixed 640x640 (preset ppocr-det-640) with the entropy method, on 1, 5,
// 10 and 27 photos of the reference item photos27, against issue 7's
// budget of 1 GB (ONNX Runtime's Python calibrators need 19.7 GB for the
// 27 photos).
//
//	benchcalibmem -onnxq BIN [-samples 1,5,10,27] [-reps 3] [-json OUT]
//
// Two commands are measured, each in a process of its own:
// `onnxq calibrate --method entropy` (runs the samples and streams every
// activation into its fixed-size histogram; writes the statistics) and
// `onnxq insert-qdq --method entropy` (the same calibration, then the KL
// search of the entropy method over every histogram, and the quantized
// model written). Each runs with GOMAXPROCS=1 (as benchcalib runs onnxq)
// and with the Go default, every core of the machine, which is what a user
// gets: more threads mean more buffers in flight between collections.
// Every run's output is read back to check that it saw N samples (and,
// for insert-qdq, used the entropy method).
//
// Figures per run: wall time, CPU time (user + system) and peak RSS (the
// child's getrusage ru_maxrss), each measurement -reps times: the least
// times and the largest peak count. MB are 10^6 bytes and "of 1 GB" is
// the peak over 10^9 bytes (the stricter reading of the budget).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/scripts/internal/childproc"
)

// budget is issue 7's limit on the peak RSS, in bytes.
const budget = 1e9

// Fixed parts of the case: model, data, preprocessing, method.
const (
	modelKey   = "ppocr-det"
	dataDir    = "photos27"
	preprocess = "ppocr-det-640"
	method     = "entropy"
)

// run is one measured configuration.
type run struct {
	Command    string `json:"command"`    // calibrate or insert-qdq
	GOMAXPROCS int    `json:"gomaxprocs"` // as the child saw it
	Samples    int    `json:"samples"`
	Args       string `json:"args"` // the command line, for rerunning it
	childproc.Usage
	OfBudget float64 `json:"of_1gb"` // PeakRSS / 10^9
}

func main() {
	bin := flag.String("onnxq", "", "the static onnxq binary to measure")
	samples := flag.String("samples", "1,5,10,27", "comma-separated sample counts")
	reps := flag.Int("reps", 3, "runs of each measurement; the least times and the largest peak count")
	jsonOut := flag.String("json", "", "also write the results as JSON here")
	flag.Parse()
	if err := benchAll(*bin, *samples, *reps, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "benchcalibmem:", err)
		os.Exit(1)
	}
}

func benchAll(bin, samples string, reps int, jsonOut string) error {
	if bin == "" {
		return fmt.Errorf("need -onnxq BIN")
	}
	var counts []int
	for _, s := range strings.Split(samples, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-samples %q: want positive integers separated by commas", samples)
		}
		counts = append(counts, n)
	}
	model := filepath.Join(testdata.Dir(), testdata.RealModels[modelKey])
	data := filepath.Join(testdata.Dir(), dataDir)
	for _, p := range []string{model, data} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%v: run scripts/fetch-testdata.sh", err)
		}
	}
	tmp, err := os.MkdirTemp("", "benchcalibmem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	procsList := []int{1}
	if runtime.NumCPU() > 1 {
		procsList = append(procsList, runtime.NumCPU())
	}
	var results []run
	for _, command := range []string{"calibrate", "insert-qdq"} {
		for _, procs := range procsList {
			for _, n := range counts {
				r, err := measureCase(bin, command, procs, n, model, data, tmp, reps)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "measured %s GOMAXPROCS=%d %d samples: %.0f MB\n", command, procs, n, float64(r.PeakRSS)/1e6)
				results = append(results, r)
			}
		}
	}
	printTable(results)
	if jsonOut != "" {
		out, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return onnxio.WriteFileAtomic(jsonOut, append(out, '\n'))
	}
	return nil
}

// measureCase runs one command on n samples reps times and checks its
// output.
func measureCase(bin, command string, procs, n int, model, data, tmp string, reps int) (run, error) {
	out := filepath.Join(tmp, "out")
	args := []string{"-q", command, model, "--calib", data, "--preprocess", preprocess, "--limit", fmt.Sprint(n), "--method", method}
	var check func() error
	if command == "calibrate" {
		args = append(args, "-o", out+".json")
		check = func() error { return checkSamples(out+".json", "samples", n, "") }
	} else {
		args = append(args, "-o", out+".onnx", "--report", out+".report.json")
		check = func() error { return checkSamples(out+".report.json", "calibration_samples", n, method) }
	}
	env := append(withoutGOMAXPROCS(os.Environ()), fmt.Sprintf("GOMAXPROCS=%d", procs))
	r := run{Command: command, GOMAXPROCS: procs, Samples: n,
		Args: fmt.Sprintf("GOMAXPROCS=%d onnxq %s", procs, strings.Join(args, " "))}
	u, err := childproc.Best(func() *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return cmd
	}, reps, func() error {
		if err := check(); err != nil {
			return fmt.Errorf("%s: %w", r.Args, err)
		}
		return nil
	})
	if err != nil {
		return run{}, err
	}
	r.Usage = u
	r.OfBudget = float64(r.PeakRSS) / budget
	return r, nil
}

// checkSamples reads the JSON file a run wrote and checks that its
// sample count field is n and, when wantMethod is set, its method.
func checkSamples(path, field string, n int, wantMethod string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var got int
	if err := json.Unmarshal(f[field], &got); err != nil || got != n {
		return fmt.Errorf("%s: %s is %s, want %d (does %s hold that many photos?)", path, field, f[field], n, dataDir)
	}
	if wantMethod != "" {
		var m string
		if err := json.Unmarshal(f["method"], &m); err != nil || m != wantMethod {
			return fmt.Errorf("%s: method is %s, want %q", path, f["method"], wantMethod)
		}
	}
	return os.Remove(path)
}

// withoutGOMAXPROCS drops a GOMAXPROCS setting inherited from the caller.
func withoutGOMAXPROCS(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "GOMAXPROCS=") {
			out = append(out, e)
		}
	}
	return out
}

func printTable(results []run) {
	fmt.Printf("PP-OCRv4 det, preset %s (640x640), --method %s, %s: peak RSS against 1 GB\n", preprocess, method, dataDir)
	fmt.Printf("%-10s %10s %7s | %6s %6s | %7s %8s\n", "command", "GOMAXPROCS", "samples", "wall s", "CPU s", "RSS MB", "of 1 GB")
	for _, r := range results {
		fmt.Printf("%-10s %10d %7d | %6.2f %6.2f | %7.0f %8.2f\n", r.Command, r.GOMAXPROCS, r.Samples, r.Wall, r.CPU, float64(r.PeakRSS)/1e6, r.OfBudget)
	}
	fmt.Println("RSS: the process's peak resident memory (getrusage ru_maxrss); MB = 10^6 bytes, of 1 GB = peak / 10^9 bytes.")
	fmt.Println("Times: whole process (model loading, normalization, preprocessing, every sample; insert-qdq also the")
	fmt.Println("entropy search and writing the model); least of the runs, largest peak of the runs.")
}
