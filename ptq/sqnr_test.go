package ptq

import (
	"math"
	"sort"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
)

// ortRun runs a model file in ONNX Runtime 1.30 (one thread, all
// optimizations) on every sample of src and returns the outputs of each.
func ortRun(t *testing.T, path string, src dataset.Source) []map[string]*graph.Tensor {
	t.Helper()
	s, err := ort.NewSession(path, ort.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := make([]map[string]*graph.Tensor, src.Len())
	for i := range out {
		in, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = s.Run(in); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// outputSQNR returns, per output name, the signal-to-quantization-noise
// ratio in dB of got against ref over all samples together:
// 10 log10(sum ref^2 / sum (ref - got)^2).
func outputSQNR(t *testing.T, ref, got []map[string]*graph.Tensor) map[string]float64 {
	t.Helper()
	signal, noise := map[string]float64{}, map[string]float64{}
	for i := range ref {
		for name, r := range ref[i] {
			g, ok := got[i][name]
			if !ok {
				t.Fatalf("sample %d: the quantized model has no output %q", i, name)
			}
			rf, err := r.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			gf, err := g.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			if len(rf) != len(gf) {
				t.Fatalf("sample %d, output %q: %d values in the float model, %d in the quantized one", i, name, len(rf), len(gf))
			}
			for k := range rf {
				d := float64(rf[k]) - float64(gf[k])
				signal[name] += float64(rf[k]) * float64(rf[k])
				noise[name] += d * d
			}
		}
	}
	res := map[string]float64{}
	for name := range signal {
		res[name] = 10 * math.Log10(signal[name]/math.Max(noise[name], 1e-30))
	}
	return res
}

// sqnrMargin is how far below the SQNR measured when a test was written
// a run may fall: 3 dB, the noise power doubled. It allows for other
// integer kernels (ONNX Runtime picks them by CPU) and small calibration
// changes, and is half of what losing one bit of precision anywhere costs
// (~6 dB).
const sqnrMargin = 3

// checkSQNR logs each output's SQNR and fails t where it is more than
// sqnrMargin below the value measured when the test was written.
func checkSQNR(t *testing.T, label string, sqnr, measured map[string]float64, samples int) {
	t.Helper()
	for _, name := range sortedKeys(sqnr) {
		m, ok := measured[name]
		t.Logf("%s output %q: SQNR %.2f dB on %d held-out samples (measured at writing: %.1f dB)", label, name, sqnr[name], samples, m)
		if !ok {
			t.Errorf("%s output %q has no measured SQNR to compare with", label, name)
		} else if sqnr[name] < m-sqnrMargin {
			t.Errorf("%s output %q: SQNR %.2f dB is below the floor %.1f dB (measured %.1f dB - %d dB)", label, name, sqnr[name], m-sqnrMargin, m, sqnrMargin)
		}
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
