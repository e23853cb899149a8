package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// onnxqVariant is one way of running the onnxq binary on a model.
type onnxqVariant struct {
	ID   string
	Args []string // after the model path and the data / output flags
	// Command is the subcommand: insert-qdq, or quantize once it exists.
	Command string
	// Method is the calibration method, to pair the variant with ONNX
	// Runtime's variant of the same method ("" for none).
	Method string
}

// onnxqVariants are the insert-qdq runs: its defaults (whatever they are
// in the binary measured; the method it used is read from its report),
// then min-max, entropy and auto (per tensor, the candidate range with the
// least round-trip error, calibrate/methods.go) explicitly. Every run has
// insert-qdq's other defaults: U8S8, per-channel weights.
var onnxqVariants = []onnxqVariant{
	{ID: "onnxq", Command: "insert-qdq"},
	{ID: "onnxq-minmax", Command: "insert-qdq", Args: []string{"--method", "minmax"}, Method: "minmax"},
	{ID: "onnxq-entropy", Command: "insert-qdq", Args: []string{"--method", "entropy"}, Method: "entropy"},
	{ID: "onnxq-auto", Command: "insert-qdq", Args: []string{"--method", "auto"}, Method: "auto"},
}

// runResult is a quantization run's cost, whichever tool ran it.
type runResult struct {
	// WallS is the wall time of the quantization: the whole onnxq
	// process; the quantize_static call for ONNX Runtime (its imports and
	// the data loading excluded).
	WallS float64 `json:"wall_s"`
	// ProcessWallS is the wall time of the whole process that quantized:
	// for ONNX Runtime it adds Python's start, the imports and the data
	// loading to WallS; for onnxq it is WallS.
	ProcessWallS float64 `json:"process_wall_s"`
	// CPUS is the user + system CPU time of the same span as WallS.
	CPUS float64 `json:"cpu_s,omitempty"`
	// PeakRSSMB is the process's peak resident set size (getrusage
	// ru_maxrss).
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// BaselineRSSMB is, for ONNX Runtime, the peak before quantize_static
	// (Python, numpy, onnx and onnxruntime imported, data loaded).
	BaselineRSSMB float64 `json:"baseline_rss_mb,omitempty"`
	Output        string  `json:"output,omitempty"`
	Error         string  `json:"error,omitempty"`
	Command       string  `json:"command,omitempty"`
	// Note says how the run deviated from the plan.
	Note string `json:"note,omitempty"`
}

// runOnnxq quantizes mm with every onnxq variant into dir.
func runOnnxq(bin string, mm manifestModel, dir string, variants []onnxqVariant) map[string]runResult {
	out := map[string]runResult{}
	for _, v := range variants {
		path := filepath.Join(dir, mm.Name+"."+v.ID+".onnx")
		args := append([]string{v.Command, mm.Float, "--calib", mm.Calib, "-o", path,
			"--report", filepath.Join(dir, mm.Name+"."+v.ID+".report.json")}, v.Args...)
		r := runMeasured(bin, args)
		if r.Error == "" {
			r.Output = path
			if v.Method == "" {
				r.Note = "defaults: method " + reportMethod(filepath.Join(dir, mm.Name+"."+v.ID+".report.json"))
			}
			fmt.Fprintf(os.Stderr, "%s %s: %.2f s, peak RSS %.0f MB\n", mm.Name, v.ID, r.WallS, r.PeakRSSMB)
		} else {
			fmt.Fprintf(os.Stderr, "%s %s: %s\n", mm.Name, v.ID, r.Error)
		}
		out[v.ID] = r
	}
	return out
}

// runMeasured runs bin with args as a child process and returns its wall
// time, CPU time and peak RSS (the child's own rusage).
func runMeasured(bin string, args []string) runResult {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	r := runResult{WallS: wall, ProcessWallS: wall, Command: filepath.Base(bin) + " " + strings.Join(args, " ")}
	if ps := cmd.ProcessState; ps != nil {
		r.CPUS = (ps.UserTime() + ps.SystemTime()).Seconds()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.PeakRSSMB = float64(ru.Maxrss) / 1024 // KiB on Linux
		}
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "\n"); i >= 0 {
			msg = msg[i+1:]
		}
		r.Error = fmt.Sprintf("%v: %s", err, msg)
	}
	return r
}

// hasCommand reports whether the onnxq binary has a subcommand.
func hasCommand(bin, name string) bool {
	return exec.Command(bin, name, "--help").Run() == nil
}

// reportMethod returns the calibration method an insert-qdq report, or a
// quantize report (stages.ptq.method, kept: which candidate was written),
// names ("?" if it cannot be read).
func reportMethod(path string) string {
	var rep struct {
		Method string `json:"method"`
		Kept   string `json:"kept"`
		Stages struct {
			PTQ struct {
				Method string `json:"method"`
			} `json:"ptq"`
		} `json:"stages"`
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		return "?"
	}
	switch {
	case rep.Method != "":
		return rep.Method
	case rep.Stages.PTQ.Method != "":
		return rep.Stages.PTQ.Method + ", kept " + rep.Kept
	}
	return "?"
}
