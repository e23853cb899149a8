package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
)

// candidate is one model file to measure against the float model.
type candidate struct {
	ID    string
	Tool  string // "float", "ort" or "onnxq"
	Path  string
	Quant *runResult // how it was made (nil for the float model)
}

// fidelity is how close a model's outputs are to the float model's on the
// held-out samples.
type fidelity struct {
	// SQNR is each output's SQNR in dB over all held-out samples.
	SQNR map[string]num `json:"sqnr_db"`
	// TextMap: PP-OCR's probability map thresholded at 0.3.
	TextMap *agreement `json:"text_map,omitempty"`
	// Scores: BlazeFace's anchors with sigmoid(score) > 0.5.
	Scores *agreement `json:"scores,omitempty"`
	// Top1 is mnist-7's top-1 accuracy on the test labels.
	Top1 *float64 `json:"top1,omitempty"`
}

// latency is the time of one inference (one thread, graph optimizations
// ALL), the median of the timed runs.
type latency struct {
	WallMS float64 `json:"wall_ms"`
	// CPUMS is the CPU time of the calling thread, which runs the whole
	// inference with one intra-op thread: steadier than the wall clock on
	// a loaded machine (it leaves out the time the thread waits for a
	// core).
	CPUMS float64 `json:"cpu_ms"`
	Runs  int     `json:"runs"`
	// Ratios to the float model's medians.
	WallRatio num `json:"wall_ratio_to_float"`
	CPURatio  num `json:"cpu_ratio_to_float"`
}

// opCounts are node counts of the model as ONNX Runtime runs it after its
// 'extended' optimizations.
type opCounts struct {
	QLinearConv int `json:"qlinear_conv"`
	// FloatConv counts Conv, ConvTranspose and com.microsoft:FusedConv.
	FloatConv int `json:"float_conv"`
	// IntegerOps counts every integer kernel: QLinear*, *Integer*,
	// com.microsoft:MatMulIntegerToFloat.
	IntegerOps int            `json:"integer_ops"`
	Dequantize int            `json:"dequantize_linear"`
	Quantize   int            `json:"quantize_linear"`
	All        map[string]int `json:"all"`
}

// result is everything measured of one candidate.
type result struct {
	ID       string     `json:"id"`
	Tool     string     `json:"tool"`
	Path     string     `json:"path,omitempty"`
	Quant    *runResult `json:"quantization,omitempty"`
	Fidelity *fidelity  `json:"fidelity,omitempty"`
	Latency  *latency   `json:"latency,omitempty"`
	Ops      *opCounts  `json:"ops_extended,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// measureOptions are the knobs of the measurement.
type measureOptions struct {
	Runs   int // timed runs per model (median)
	Warmup int // untimed runs first
	TmpDir string
}

// measureModel measures every candidate of one model: fidelity on the
// held-out samples, op types after 'extended' optimization, and latency.
// The first candidate must be the float model.
func measureModel(bm benchModel, mm manifestModel, cands []candidate, o measureOptions) ([]*result, error) {
	samples, err := loadSamples(mm.Eval)
	if err != nil {
		return nil, err
	}
	var labels []int64
	if mm.Labels != "" {
		t, err := dataset.ReadNpyFile(mm.Labels)
		if err != nil {
			return nil, err
		}
		if labels, err = dataset.Labels(t); err != nil {
			return nil, fmt.Errorf("%s: %w", mm.Labels, err)
		}
	}
	opts := ort.Options{Threads: 1, OptLevel: ort.OptAll}
	var ref []outputs
	var results []*result
	sessions := map[string]*ort.Session{}
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	for i, c := range cands {
		r := &result{ID: c.ID, Tool: c.Tool, Path: c.Path, Quant: c.Quant}
		results = append(results, r)
		if c.Quant != nil && c.Quant.Error != "" {
			r.Error = "quantization failed: " + c.Quant.Error
			continue
		}
		s, err := ort.NewSession(c.Path, opts)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			r.Error = err.Error()
			continue
		}
		sessions[c.ID] = s
		got, err := runAll(s, samples)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			r.Error = err.Error()
			continue
		}
		if i == 0 {
			ref = got
		}
		if r.Fidelity, err = measureFidelity(bm, ref, got, labels); err != nil {
			return nil, fmt.Errorf("%s: %w", c.ID, err)
		}
		if r.Ops, err = optimizedOps(c.Path, filepath.Join(o.TmpDir, mm.Name+"."+c.ID+".extended.onnx")); err != nil {
			r.Error = err.Error()
		}
		fmt.Fprintf(os.Stderr, "measured %s %s\n", mm.Name, c.ID)
	}
	if bm.Image != nil {
		nr, err := noiseReference(bm, sessions[cands[0].ID], samples, ref)
		if err != nil {
			return nil, err
		}
		results = append(results[:1], append([]*result{nr}, results[1:]...)...)
	}
	if err := measureLatency(results, sessions, samples[0], o); err != nil {
		return nil, err
	}
	return results, nil
}

// noiseReference measures the float model on inputs with +-0.5 grey level
// noise (see withInputNoise).
func noiseReference(bm benchModel, s *ort.Session, samples []map[string]*graph.Tensor, ref []outputs) (*result, error) {
	rng := rand.New(rand.NewPCG(noiseSeed, 1))
	noisy := make([]map[string]*graph.Tensor, len(samples))
	for i, smp := range samples {
		t, err := withInputNoise(smp[bm.Input], *bm.Image, rng)
		if err != nil {
			return nil, err
		}
		noisy[i] = map[string]*graph.Tensor{bm.Input: t}
	}
	got, err := runAll(s, noisy)
	if err != nil {
		return nil, err
	}
	f, err := measureFidelity(bm, ref, got, nil)
	if err != nil {
		return nil, err
	}
	return &result{ID: "float+noise", Tool: "reference", Fidelity: f}, nil
}

// loadSamples reads an .npz of stacked inputs.
func loadSamples(path string) ([]map[string]*graph.Tensor, error) {
	arrays, err := dataset.ReadNpz(path)
	if err != nil {
		return nil, err
	}
	src, err := dataset.NewArraySource(arrays)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]map[string]*graph.Tensor, src.Len())
	for i := range out {
		if out[i], err = src.Sample(i); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no samples", path)
	}
	return out, nil
}

func runAll(s *ort.Session, samples []map[string]*graph.Tensor) ([]outputs, error) {
	out := make([]outputs, len(samples))
	for i, smp := range samples {
		o, err := s.Run(smp)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		out[i] = o
	}
	return out, nil
}

func measureFidelity(bm benchModel, ref, got []outputs, labels []int64) (*fidelity, error) {
	var f fidelity
	sq, err := sqnrDB(ref, got)
	if err != nil {
		return nil, err
	}
	f.SQNR = map[string]num{}
	for k, v := range sq {
		f.SQNR[k] = num(v)
	}
	switch bm.Task {
	case textMap:
		a, err := mapIoU(ref, got, nil, textThreshold)
		if err != nil {
			return nil, err
		}
		f.TextMap = &a
	case faces:
		// sigmoid(x) > 0.5 exactly when x > 0.
		a, err := mapIoU(ref, got, bm.ScoreOutputs, 0)
		if err != nil {
			return nil, err
		}
		if a.MaxProbDiff, err = maxSigmoidDiff(ref, got, bm.ScoreOutputs); err != nil {
			return nil, err
		}
		f.Scores = &a
	case digits:
		if labels != nil {
			acc, err := topOne(got, labels)
			if err != nil {
				return nil, err
			}
			f.Top1 = &acc
		}
	}
	return &f, nil
}

// optimizedOps loads the model at the 'extended' level, has ONNX Runtime
// write the graph it runs to tmp, and counts its op types.
func optimizedOps(path, tmp string) (*opCounts, error) {
	s, err := ort.NewSession(path, ort.Options{Threads: 1, OptLevel: ort.OptExtended, OptimizedModelPath: tmp})
	if err != nil {
		return nil, err
	}
	s.Close()
	defer os.Remove(tmp)
	all, err := ort.OpTypes(tmp)
	if err != nil {
		return nil, err
	}
	c := &opCounts{All: all}
	for k, n := range all {
		op := k
		if i := strings.LastIndexByte(k, ':'); i >= 0 {
			op = k[i+1:]
		}
		switch {
		case op == "QLinearConv":
			c.QLinearConv += n
			c.IntegerOps += n
		case op == "Conv" || op == "ConvTranspose" || op == "FusedConv":
			c.FloatConv += n
		case op == "DequantizeLinear":
			c.Dequantize += n
		case op == "QuantizeLinear":
			c.Quantize += n
		case strings.HasPrefix(op, "QLinear") || strings.Contains(op, "Integer"):
			c.IntegerOps += n
		}
	}
	return c, nil
}

// measureLatency times one inference of every model with a session on the
// same input: warm-up runs first, then Runs rounds in which every model
// runs once (in an order that rotates each round), so load changes on the
// machine hit every model alike. Medians of wall and thread CPU time.
func measureLatency(results []*result, sessions map[string]*ort.Session, input map[string]*graph.Tensor, o measureOptions) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ids []string
	for _, r := range results {
		if sessions[r.ID] != nil && r.Error == "" {
			ids = append(ids, r.ID)
		}
	}
	for _, id := range ids {
		for range o.Warmup {
			if _, err := sessions[id].Run(input); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
		}
	}
	wall, cpu := map[string][]float64{}, map[string][]float64{}
	for round := range o.Runs {
		for k := range ids {
			id := ids[(k+round)%len(ids)]
			c0, t0 := threadCPU(), time.Now()
			if _, err := sessions[id].Run(input); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			wall[id] = append(wall[id], float64(time.Since(t0).Microseconds())/1000)
			cpu[id] = append(cpu[id], float64((threadCPU()-c0).Microseconds())/1000)
		}
	}
	var fw, fc float64
	for i, r := range results {
		if len(wall[r.ID]) == 0 {
			continue
		}
		l := &latency{WallMS: median(wall[r.ID]), CPUMS: median(cpu[r.ID]), Runs: len(wall[r.ID])}
		if i == 0 {
			fw, fc = l.WallMS, l.CPUMS
		}
		l.WallRatio, l.CPURatio = num(l.WallMS/fw), num(l.CPUMS/fc)
		r.Latency = l
	}
	return nil
}

// threadCPU returns the CPU time (user + system) of the calling OS thread,
// from clock_gettime(CLOCK_THREAD_CPUTIME_ID): nanosecond resolution, where
// getrusage(RUSAGE_THREAD) counts in scheduler ticks, too coarse for
// mnist-7's 30 microseconds.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3 // Linux
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
