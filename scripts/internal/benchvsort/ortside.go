package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ortFile is what scripts/bench_vs_ort.py writes (DIR/ort/ort.json).
type ortFile struct {
	ORTVersion  string              `json:"onnxruntime_version"`
	ONNXVersion string              `json:"onnx_version"`
	Models      map[string]ortModel `json:"models"`
}

type ortModel struct {
	Prepared string                `json:"prepared"`
	Prepare  ortPrepare            `json:"prepare"`
	Variants map[string]ortVariant `json:"variants"`
}

// ortPrepare is the one-off preparation of a model for ORT's quantizer:
// opset upgrade to 13 (when older) and quant_pre_process.
type ortPrepare struct {
	OpsetFrom   int     `json:"opset_from"`
	UpgradeS    float64 `json:"upgrade_s"`
	PreProcessS float64 `json:"pre_process_s"`
}

type ortVariant struct {
	WallS          float64 `json:"wall_s"`
	CPUS           float64 `json:"cpu_s"`
	MaxRSSKB       float64 `json:"maxrss_kb"`
	BaselineRSSKB  float64 `json:"baseline_rss_kb"`
	ProcessWallS   float64 `json:"process_wall_s"`
	Samples        int     `json:"samples"`
	Method         string  `json:"method"`
	PerChannel     bool    `json:"per_channel"`
	ActivationType string  `json:"activation_type"`
	WeightType     string  `json:"weight_type"`
	Output         string  `json:"output"`
	Error          string  `json:"error"`
	// InputModel is the model quantize_static read: the pre-processed one,
	// or the one before pre-processing when the tool failed on that
	// (PreProcessedError).
	InputModel        string `json:"input_model"`
	PreProcessedError string `json:"pre_processed_error"`
}

// ortVariantIDs are the ORT variants in table order, as bench_vs_ort.py
// names them.
func ortVariantIDs() []string {
	var ids []string
	for _, tag := range []string{"s8s8", "u8s8"} {
		for _, m := range []string{"minmax", "entropy", "percentile"} {
			for _, g := range []string{"pt", "pc"} {
				ids = append(ids, fmt.Sprintf("ort-%s-%s-%s", tag, m, g))
			}
		}
	}
	return ids
}

func loadORT(dir string) (*ortFile, error) {
	path := filepath.Join(dir, "ort.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run scripts/bench_vs_ort.py first)", err)
	}
	var f ortFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// ortCandidates turns a model's ORT variants into candidates, in table
// order; variants the ORT side did not run are left out.
func ortCandidates(f *ortFile, model string) []candidate {
	m, ok := f.Models[model]
	if !ok {
		return nil
	}
	var out []candidate
	for _, id := range ortVariantIDs() {
		v, ok := m.Variants[id]
		if !ok {
			continue
		}
		r := &runResult{WallS: v.WallS, ProcessWallS: v.ProcessWallS, CPUS: v.CPUS, PeakRSSMB: v.MaxRSSKB / 1024, BaselineRSSMB: v.BaselineRSSKB / 1024,
			Output: v.Output, Error: v.Error,
			Command: fmt.Sprintf("quantize_static(QDQ, activation %s, weight %s, per_channel=%v, %s)",
				v.ActivationType, v.WeightType, v.PerChannel, v.Method)}
		if v.PreProcessedError != "" {
			msg := v.PreProcessedError
			if i := strings.LastIndex(msg, " | "); i >= 0 {
				msg = msg[i+3:] // the exception, without its traceback
			}
			r.Note = fmt.Sprintf("quantize_static failed on the pre-processed model (%s); quantized %s instead",
				msg, filepath.Base(v.InputModel))
		}
		out = append(out, candidate{ID: id, Tool: "ort", Path: v.Output, Quant: r})
	}
	return out
}
