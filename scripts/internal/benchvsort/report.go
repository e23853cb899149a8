package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// report is the JSON the benchmark writes (out/bench-vs-ort.json).
type report struct {
	Machine      machine       `json:"machine"`
	MachineAfter machine       `json:"machine_after"`
	ORTRuntime   string        `json:"onnxruntime_measuring"`
	ORTQuantizer string        `json:"onnxruntime_quantizer"`
	ONNX         string        `json:"onnx_python"`
	Runs         int           `json:"latency_runs"`
	Warmup       int           `json:"latency_warmup"`
	Models       []modelReport `json:"models"`
}

type modelReport struct {
	Name          string       `json:"name"`
	Task          task         `json:"task"`
	Preprocessing string       `json:"preprocessing"`
	CalibFrom     []string     `json:"calib_from"`
	EvalFrom      []string     `json:"eval_from"`
	CalibSamples  int          `json:"calib_samples"`
	EvalSamples   int          `json:"eval_samples"`
	ORTPrepare    ortPrepare   `json:"ort_prepare"`
	Results       []*result    `json:"results"`
	Comparisons   []comparison `json:"onnxq_vs_ort"`
}

// machine is the load and hardware at a point of the run.
type machine struct {
	Time    string `json:"time"`
	LoadAvg string `json:"loadavg"`
	CPU     string `json:"cpu"`
	CPUs    int    `json:"cpus"`
}

func machineInfo() machine {
	m := machine{Time: time.Now().UTC().Format(time.RFC3339), CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// comparison pairs an onnxq model with an ORT model: ratios onnxq / ORT
// for cost and latency, differences onnxq - ORT for fidelity.
type comparison struct {
	Onnxq string `json:"onnxq"`
	ORT   string `json:"ort"`
	Why   string `json:"why"`
	// Fidelity: the task's main figure (text-map IoU, mean output SQNR in
	// dB, top-1) of each, and the difference.
	Metric     string `json:"metric"`
	OnnxqValue num    `json:"onnxq_value"`
	ORTValue   num    `json:"ort_value"`
	Delta      num    `json:"delta"`
	// Ratios onnxq / ORT (NaN, null in JSON, when a side has no figure).
	LatencyCPURatio  num `json:"latency_cpu_ratio"`
	LatencyWallRatio num `json:"latency_wall_ratio"`
	QuantTimeRatio   num `json:"quant_time_ratio"`
	PeakRSSRatio     num `json:"peak_rss_ratio"`
}

// score is the task's main fidelity figure (higher is better): text-map
// IoU, mean SQNR of the outputs, or top-1.
func score(bm benchModel, r *result) (string, float64, bool) {
	if r == nil || r.Error != "" || r.Fidelity == nil {
		return "", math.NaN(), false
	}
	f := r.Fidelity
	switch {
	case bm.Task == textMap && f.TextMap != nil:
		return "text-map IoU", f.TextMap.IoU, true
	case bm.Task == digits && f.Top1 != nil:
		return "top-1", *f.Top1, true
	}
	var s float64
	for _, v := range f.SQNR {
		s += float64(v)
	}
	return "mean SQNR dB", s / float64(len(f.SQNR)), len(f.SQNR) > 0
}

// counterpart maps an onnxq variant to the ORT variant with the same
// settings: U8S8, per-channel weights, the same calibration method.
var counterpart = map[string]string{
	"onnxq-minmax":  "ort-u8s8-minmax-pc",
	"onnxq-entropy": "ort-u8s8-entropy-pc",
}

// compare pairs each onnxq model with its ORT counterpart (same method),
// and the best onnxq model with the best ORT model by fidelity.
func compare(bm benchModel, results []*result) []comparison {
	byID := map[string]*result{}
	for _, r := range results {
		byID[r.ID] = r
	}
	var out []comparison
	for _, r := range results {
		if o, ok := counterpart[r.ID]; ok && byID[o] != nil {
			out = append(out, pair(bm, r, byID[o], "same method, U8S8, per-channel"))
		}
	}
	if q, o := best(bm, results, "onnxq"), best(bm, results, "ort"); q != nil && o != nil {
		out = append(out, pair(bm, q, o, "best of each by fidelity"))
	}
	return out
}

func pair(bm benchModel, q, o *result, why string) comparison {
	c := comparison{Onnxq: q.ID, ORT: o.ID, Why: why}
	metric, qv, _ := score(bm, q)
	_, ov, _ := score(bm, o)
	c.Metric, c.OnnxqValue, c.ORTValue, c.Delta = metric, num(qv), num(ov), num(qv-ov)
	nan := num(math.NaN())
	c.LatencyCPURatio, c.LatencyWallRatio, c.QuantTimeRatio, c.PeakRSSRatio = nan, nan, nan, nan
	if q.Latency != nil && o.Latency != nil {
		c.LatencyCPURatio = num(q.Latency.CPUMS / o.Latency.CPUMS)
		c.LatencyWallRatio = num(q.Latency.WallMS / o.Latency.WallMS)
	}
	if q.Quant != nil && o.Quant != nil && q.Quant.Error == "" && o.Quant.Error == "" {
		c.QuantTimeRatio = num(q.Quant.WallS / o.Quant.WallS)
		c.PeakRSSRatio = num(q.Quant.PeakRSSMB / o.Quant.PeakRSSMB)
	}
	return c
}

// printModel prints a model's table and its onnxq/ORT comparison.
func printModel(w io.Writer, bm benchModel, mr modelReport) {
	fmt.Fprintf(w, "\n## %s\n\n", mr.Name)
	fmt.Fprintf(w, "calibration: %d samples (%s); evaluation: %d held-out samples (%s)\n",
		mr.CalibSamples, strings.Join(mr.CalibFrom, " "), mr.EvalSamples, strings.Join(mr.EvalFrom, " "))
	fmt.Fprintf(w, "inputs: %s\n", mr.Preprocessing)
	if p := mr.ORTPrepare; p.PreProcessS > 0 {
		up := ""
		if p.OpsetFrom < 13 {
			up = fmt.Sprintf("opset %d -> 13 in %.2f s, then ", p.OpsetFrom, p.UpgradeS)
		}
		fmt.Fprintf(w, "ORT input model: %squant_pre_process in %.2f s (once per model, not in the times below)\n", up, p.PreProcessS)
	}
	var outNames []string
	for _, r := range mr.Results {
		if r.Fidelity != nil {
			for n := range r.Fidelity.SQNR {
				outNames = append(outNames, n)
			}
			break
		}
	}
	sort.Strings(outNames)
	fmt.Fprintln(w)
	head := []string{"variant"}
	switch bm.Task {
	case textMap:
		head = append(head, "IoU@0.3 (px float/q)")
	case faces:
		head = append(head, "score IoU (n float/q) max|Δp|")
	case digits:
		head = append(head, "top-1 %")
	}
	head = append(head, "SQNR dB "+strings.Join(shortNames(outNames), "/"),
		"ms wall", "ms CPU", "int8/float CPU", "int8/float wall", "quant s", "quant CPU s", "peak RSS MB",
		"QLinearConv", "float Conv", "DQ", "Q")
	rows := [][]string{head}
	for _, r := range mr.Results {
		rows = append(rows, row(bm, r, outNames))
	}
	printTable(w, rows)
	for _, r := range mr.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", r.ID, r.Error)
		}
		if r.Quant != nil && r.Quant.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.ID, r.Quant.Note)
		}
	}
	if len(mr.Comparisons) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{"onnxq", "vs ORT", "pairing", "metric", "onnxq", "ORT", "difference",
			"latency CPU onnxq/ORT", "latency wall onnxq/ORT", "quant time onnxq/ORT", "peak RSS onnxq/ORT"}}
		for _, c := range mr.Comparisons {
			rows = append(rows, []string{c.Onnxq, c.ORT, c.Why, c.Metric, metric(c.Metric, float64(c.OnnxqValue)),
				metric(c.Metric, float64(c.ORTValue)), signed(c.Metric, float64(c.Delta)), ratio(float64(c.LatencyCPURatio)),
				ratio(float64(c.LatencyWallRatio)), ratio(float64(c.QuantTimeRatio)), ratio(float64(c.PeakRSSRatio))})
		}
		printTable(w, rows)
	}
}

func row(bm benchModel, r *result, outNames []string) []string {
	cells := []string{r.ID}
	f := r.Fidelity
	switch {
	case f == nil:
		cells = append(cells, "-", "-")
	default:
		switch bm.Task {
		case textMap:
			cells = append(cells, agreementCell(f.TextMap))
		case faces:
			c := agreementCell(f.Scores)
			if f.Scores != nil {
				c += fmt.Sprintf(" %.3f", f.Scores.MaxProbDiff)
			}
			cells = append(cells, c)
		case digits:
			if f.Top1 != nil {
				cells = append(cells, fmt.Sprintf("%.2f", 100**f.Top1))
			} else {
				cells = append(cells, "-")
			}
		}
		var s []string
		for _, n := range outNames {
			s = append(s, db(float64(f.SQNR[n])))
		}
		cells = append(cells, strings.Join(s, "/"))
	}
	if l := r.Latency; l != nil {
		cells = append(cells, fmt.Sprintf("%.3g", l.WallMS), fmt.Sprintf("%.3g", l.CPUMS),
			plain(float64(l.CPURatio)), plain(float64(l.WallRatio)))
	} else {
		cells = append(cells, "-", "-", "-", "-")
	}
	if q := r.Quant; q != nil && q.Error == "" {
		cells = append(cells, fmt.Sprintf("%.2f", q.WallS), fmt.Sprintf("%.2f", q.CPUS), fmt.Sprintf("%.0f", q.PeakRSSMB))
	} else {
		cells = append(cells, "-", "-", "-")
	}
	if o := r.Ops; o != nil {
		cells = append(cells, fmt.Sprint(o.QLinearConv), fmt.Sprint(o.FloatConv), fmt.Sprint(o.Dequantize), fmt.Sprint(o.Quantize))
	} else {
		cells = append(cells, "-", "-", "-", "-")
	}
	return cells
}

func agreementCell(a *agreement) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f (%d/%d)", a.IoU, a.NRef, a.NGot)
}

// shortNames drops tf2onnx's ":0" suffixes for the column header.
func shortNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(n, ":0")
	}
	return out
}

func db(v float64) string {
	if math.IsInf(v, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.1f", v)
}

func metric(name string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case name == "top-1":
		return fmt.Sprintf("%.2f%%", 100*v)
	case name == "text-map IoU":
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func signed(name string, v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case name == "top-1":
		return fmt.Sprintf("%+.2f pt", 100*v)
	case name == "text-map IoU":
		return fmt.Sprintf("%+.3f", v)
	}
	return fmt.Sprintf("%+.1f dB", v)
}

// plain formats a ratio without its "x".
func plain(v float64) string { return strings.TrimSuffix(ratio(v), "x") }

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

// printTable prints rows as a Markdown table with aligned columns; the
// first row is the header.
func printTable(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		if i == 0 {
			sep[i] = strings.Repeat("-", n+2)
		} else {
			sep[i] = strings.Repeat("-", n+1) + ":"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(sep, "|")+"|")
	for _, r := range rows[1:] {
		line(r)
	}
}

// ortDefault is quantize_static with nothing but the format chosen: QDQ,
// S8S8, MinMax, per-tensor weights.
const ortDefault = "ort-s8s8-minmax-pt"

// printSummary prints one line per model: the main fidelity figure, the
// int8/float latency and the quantization cost ratios.
func printSummary(w io.Writer, models []modelReport) {
	fmt.Fprintf(w, "\n## Summary\n\n")
	fmt.Fprintln(w, "ORT default = quantize_static's defaults (QDQ, S8S8, MinMax, per-tensor); best = highest fidelity of the")
	fmt.Fprintln(w, "variants; latency = median thread CPU time of one inference, one thread, int8 / float; cost ratios onnxq / ORT")
	fmt.Fprintln(w, "for the same method (U8S8, per-channel weights): min-max and entropy. onnxq = insert-qdq's defaults.")
	fmt.Fprintln(w)
	rows := [][]string{{"model", "metric", "float+noise", "ORT default", "ORT best", "onnxq", "onnxq best",
		"int8/float ORT default", "int8/float ORT best", "int8/float onnxq", "int8/float onnxq best", "quant time minmax", "quant time entropy",
		"peak RSS minmax", "peak RSS entropy"}}
	for _, mr := range models {
		bm := benchModels[slicesIndex(mr.Name)]
		byID := map[string]*result{}
		for _, r := range mr.Results {
			byID[r.ID] = r
		}
		bestO, bestQ := best(bm, mr.Results, "ort"), best(bm, mr.Results, "onnxq")
		name, _, _ := score(bm, bestQ)
		val := func(r *result) string {
			_, v, ok := score(bm, r)
			if !ok {
				return "-"
			}
			return metric(name, v)
		}
		withID := func(r *result) string {
			if r == nil {
				return "-"
			}
			return val(r) + " " + r.ID
		}
		lat := func(r *result) string {
			if r == nil || r.Latency == nil {
				return "-"
			}
			return plain(float64(r.Latency.CPURatio))
		}
		cost := func(q, o string, f func(*runResult) float64) string {
			a, b := byID[q], byID[o]
			if a == nil || b == nil || a.Quant == nil || b.Quant == nil || a.Quant.Error != "" || b.Quant.Error != "" {
				return "-"
			}
			return ratio(f(a.Quant) / f(b.Quant))
		}
		wall := func(r *runResult) float64 { return r.WallS }
		rss := func(r *runResult) float64 { return r.PeakRSSMB }
		rows = append(rows, []string{mr.Name, name, val(byID["float+noise"]), val(byID[ortDefault]), withID(bestO),
			val(byID["onnxq"]), withID(bestQ), lat(byID[ortDefault]), lat(bestO), lat(byID["onnxq"]), lat(bestQ),
			cost("onnxq-minmax", counterpart["onnxq-minmax"], wall), cost("onnxq-entropy", counterpart["onnxq-entropy"], wall),
			cost("onnxq-minmax", counterpart["onnxq-minmax"], rss), cost("onnxq-entropy", counterpart["onnxq-entropy"], rss)})
	}
	printTable(w, rows)
}

// best returns the result of a tool with the highest fidelity (nil if
// none has a figure).
func best(bm benchModel, results []*result, tool string) *result {
	var b *result
	for _, r := range results {
		if r.Tool != tool {
			continue
		}
		_, v, ok := score(bm, r)
		if !ok {
			continue
		}
		if _, bv, _ := score(bm, b); b == nil || v > bv {
			b = r
		}
	}
	return b
}

func slicesIndex(name string) int {
	for i, bm := range benchModels {
		if bm.Name == name {
			return i
		}
	}
	return -1
}
