package tune

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
)

// imageCase is one real image model of the acceptance test.
type imageCase struct {
	model, preset string
	// size, when set, resizes the photos to size x size (PP-OCR takes any
	// multiple of 32; small inputs keep the test fast).
	size int
	// eval is how many held-out photos measure the variants.
	eval int
	// logits measures the input of the final Sigmoid instead of the
	// output: PP-OCR's text map is ~1e-7 everywhere on these photos
	// (they hold almost no text), so its SQNR would be the SQNR of noise.
	logits bool
}

// imageData splits the ten reference photos: the first six calibrate, the
// next n are held out to measure.
func imageData(t *testing.T, c imageCase) (calib, eval dataset.Source) {
	t.Helper()
	pre := dataset.ImagePresets[c.preset]
	if c.size > 0 {
		pre.Resize, pre.Width, pre.Height = dataset.ResizeExact, c.size, c.size
	}
	imgs, err := dataset.OpenImageFolder(testdata.Path(t, "images"), pre)
	if err != nil {
		t.Fatal(err)
	}
	if calib, err = dataset.Slice(imgs, 0, 6); err != nil {
		t.Fatal(err)
	}
	if eval, err = dataset.Slice(imgs, 6, 6+c.eval); err != nil {
		t.Fatal(err)
	}
	return calib, eval
}

// logitsOf returns the input of the Sigmoid that computes a graph output.
func logitsOf(t *testing.T, m *graph.Model) string {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Sigmoid" && n.Output(0).IsGraphOutput() {
			return n.Input(0).Name
		}
	}
	t.Fatal("no Sigmoid computes an output")
	return ""
}

// TestImageModels is the acceptance test on BlazeFace (front and back)
// and PP-OCRv4 det, on real photos:
//
//   - compare finds the worst tensor of the insert-qdq model, and its
//     figures agree with the tensor measured directly;
//   - analyze ranks every layer, and keeping the more sensitive half in
//     float gives a better model than all int8;
//   - a budget of 8 dB above the all-int8 model's SQNR chooses a
//     precision per layer; the model insert-qdq writes with the chosen
//     config keeps the budget in ONNX Runtime 1.30 (measured here
//     directly, not by the tool) and is smaller than the int8 baseline
//     (int8 with the fewest most sensitive layers in float) that keeps
//     the same budget, or the tool chose the baseline and says why.
func TestImageModels(t *testing.T) {
	if err := ort.Init(testdata.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	cases := []imageCase{
		{model: "blazeface-front", preset: "blazeface-front", eval: 2},
		{model: "blazeface-back", preset: "blazeface-back", eval: 1},
		{model: "ppocr-det", preset: "ppocr-det", size: 96, eval: 2, logits: true},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			start := time.Now()
			calib, eval := imageData(t, c)
			var tensors []string
			if c.logits {
				tensors = []string{logitsOf(t, loadModel(t, c.model))}
			}
			checkCompare(t, c, calib, eval)
			s, err := NewSession(loadModel(t, c.model), calib, EvalData{Source: eval, Tensors: tensors}, ptq.Defaults(),
				Options{Opset21: true, Verify: ORTBackend(1)})
			if err != nil {
				t.Fatal(err)
			}
			a, err := Analyze(s, AnalyzeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkRanking(t, a)
			t.Logf("analyzed %d layers in %v: all int8 %.2f dB; most sensitive %s (%.2f dB alone), least %s (%.2f dB alone)",
				len(a.Layers), time.Since(start).Round(time.Millisecond), float64(a.Quantized.SQNR),
				a.Layers[0].Name, float64(a.Layers[0].Alone.SQNR), a.Layers[len(a.Layers)-1].Name, float64(a.Layers[len(a.Layers)-1].Alone.SQNR))

			budget := math.Round(float64(a.Quantized.SQNR)) + 8
			res, err := Search(s, SearchOptions{Budget: Budget{MinSQNR: &budget}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("budget %.0f dB: %s", budget, res.Why)
			// Write the model as insert-qdq --config does.
			cfg := ptq.Defaults()
			if err := res.Variant.Config.Apply(&cfg); err != nil {
				t.Fatal(err)
			}
			m := loadModel(t, c.model)
			if _, err := ptq.Quantize(m, calib, cfg); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, c.model+".mixed.onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			testdata.Written(t, path)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			got := ortSQNR(t, testdata.Path(t, testdata.RealModels[c.model]), path, eval, tensors)
			t.Logf("written: %d bytes, %s; ONNX Runtime SQNR %.2f dB (budget %.0f); int8 baseline %d bytes with %d layers in float; %v in all",
				st.Size(), DescribeSettings(res.Chosen), got, budget, res.Baseline.Size, res.BaselineFloats, time.Since(start).Round(time.Millisecond))
			if got < budget {
				t.Errorf("the written model's SQNR in ONNX Runtime is %.2f dB, below the budget of %.0f dB", got, budget)
			}
			if !res.Baseline.Meets {
				t.Errorf("the baseline does not keep the budget")
			}
			// Smaller than the baseline, or the tool says why not.
			switch {
			case res.Measurement != res.Baseline.Measurement:
				if st.Size() >= res.Baseline.Size {
					t.Errorf("the written model (%d bytes) is not smaller than the int8 baseline (%d bytes); the tool says: %s", st.Size(), res.Baseline.Size, res.Why)
				}
			case !strings.HasPrefix(res.Why, "no mixed-precision model") && !strings.HasPrefix(res.Why, "int8 everywhere"):
				t.Errorf("the baseline was chosen without saying why: %q", res.Why)
			default:
				t.Logf("NOTE: no mixed-precision model beat the baseline: %s", res.Why)
			}
			checkInt8FloatSearch(t, s, budget)
		})
	}
}

// checkInt8FloatSearch runs the search with int8 and float only: after the
// baseline (a prefix of the ranking in float), every layer it keeps in
// float is tried in int8 once, largest first, and kept in int8 when the
// model still keeps the budget and is smaller; the result keeps the budget
// and is no larger than the baseline.
func checkInt8FloatSearch(t *testing.T, s *Session, budget float64) {
	t.Helper()
	res, err := Search(s, SearchOptions{Budget: Budget{MinSQNR: &budget}, Precisions: []Precision{Int8}})
	if err != nil {
		t.Fatal(err)
	}
	refined := 0
	for _, st := range res.Steps {
		if st.Search == "refine" {
			refined++
		}
	}
	if refined != res.BaselineFloats {
		t.Errorf("int8/float search: %d refinement steps for %d baseline float layers", refined, res.BaselineFloats)
	}
	if !res.Budget.Meets(res.Measurement, res.FloatTop1) || res.Measurement.Size > res.Baseline.Size {
		t.Errorf("int8/float search: chose %d bytes at %.2f dB (budget %.0f dB), baseline %d bytes", res.Measurement.Size, float64(res.Measurement.SQNR), budget, res.Baseline.Size)
	}
	t.Logf("int8/float search: %s", res.Why)
}

// checkCompare quantizes the model with insert-qdq's flow and compares
// it with the float model: the worst tensor comes first, and its SQNR
// agrees with the SQNR computed here from the two tensors.
func checkCompare(t *testing.T, c imageCase, calib, eval dataset.Source) {
	t.Helper()
	ref := loadModel(t, c.model)
	q := loadModel(t, c.model)
	if _, err := ptq.Quantize(q, calib, ptq.Defaults()); err != nil {
		t.Fatal(err)
	}
	res, err := Compare(ref, q, eval, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tensors) < 20 {
		t.Fatalf("only %d tensors matched", len(res.Tensors))
	}
	worst := res.Tensors[0]
	for _, r := range res.Tensors {
		if r.SQNR < worst.SQNR {
			t.Fatalf("%s (%v dB) is worse than the first listed, %s (%v dB)", r.Name, r.SQNR, worst.Name, worst.SQNR)
		}
	}
	// Recompute the worst tensor's SQNR from both models' tensors.
	var rv, qv *graph.Value
	for _, n := range ref.Graph.Nodes {
		for _, v := range n.Outputs {
			if v.Name == worst.Name {
				rv = v
			}
		}
	}
	for _, n := range q.Graph.Nodes {
		for _, v := range n.Outputs {
			if v.Name == worst.Matched {
				qv = v
			}
		}
	}
	if rv == nil || qv == nil {
		t.Fatalf("cannot find %s / %s", worst.Name, worst.Matched)
	}
	pr, err := engine.Compile(ref)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := engine.Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	var signal, noise float64
	for i := 0; i < eval.Len(); i++ {
		s, _ := eval.Sample(i)
		a, err := pr.Run(s, &engine.RunOptions{Keep: []*graph.Value{rv}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := pq.Run(s, &engine.RunOptions{Keep: []*graph.Value{qv}})
		if err != nil {
			t.Fatal(err)
		}
		af, _ := a[rv.Name].Float32s()
		bf, _ := b[qv.Name].Float32s()
		for k := range af {
			d := float64(bf[k]) - float64(af[k])
			signal += float64(af[k]) * float64(af[k])
			noise += d * d
		}
	}
	direct := 10 * math.Log10(signal/noise)
	// The same sums in another order: equal to 1e-9 dB.
	if math.Abs(direct-float64(worst.SQNR)) > 1e-9 {
		t.Errorf("worst tensor %s: compare says %v dB, measured directly %v dB", worst.Name, worst.SQNR, direct)
	}
	local := res.Tensors[0]
	for _, r := range res.Tensors {
		if r.LocalSQNR < local.LocalSQNR {
			local = r
		}
	}
	t.Logf("compare: %d tensors; worst %s (%s, %.2f dB); most noise enters at %s (%s, local %.2f dB)",
		len(res.Tensors), worst.Name, worst.Op, float64(worst.SQNR), local.Name, local.Op, float64(local.LocalSQNR))
}

// checkRanking checks that every layer is ranked once, by the SQNR of
// the layer quantized alone, and that the curve improves on all int8.
func checkRanking(t *testing.T, a *Analysis) {
	t.Helper()
	seen := map[string]bool{}
	for i, l := range a.Layers {
		if l.Rank != i+1 || seen[l.Name] {
			t.Fatalf("layer %s has rank %d at position %d", l.Name, l.Rank, i)
		}
		seen[l.Name] = true
		if i > 0 && l.Alone.SQNR < a.Layers[i-1].Alone.SQNR {
			t.Errorf("%s (%v dB alone) ranked after %s (%v dB)", l.Name, l.Alone.SQNR, a.Layers[i-1].Name, a.Layers[i-1].Alone.SQNR)
		}
		if l.LeftFloat == nil || math.IsNaN(float64(l.Gain)) {
			t.Errorf("%s: no measurement with the layer left in float", l.Name)
		}
	}
	half := a.Curve[len(a.Curve)-2] // the most layers in float short of all
	if half.SQNR <= a.Quantized.SQNR {
		t.Errorf("with the %d most sensitive layers in float the SQNR is %v dB, not above all int8's %v dB", half.FloatLayers, half.SQNR, a.Quantized.SQNR)
	}
}

// ortSQNR runs the float and the quantized model files in ONNX Runtime
// 1.30 on src and returns the lowest SQNR (dB) of the outputs, or of the
// given tensors (made graph outputs of copies of the models).
func ortSQNR(t *testing.T, floatPath, qPath string, src dataset.Source, tensors []string) float64 {
	t.Helper()
	run := func(path string) []map[string]*graph.Tensor {
		m, err := graph.FromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		names, err := expose(m, tensors)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "m.onnx")
		if err := m.Save(p); err != nil {
			t.Fatal(err)
		}
		sess, err := ort.NewSession(p, ort.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		var outs []map[string]*graph.Tensor
		for i := 0; i < src.Len(); i++ {
			s, _ := src.Sample(i)
			o, err := sess.Run(s)
			if err != nil {
				t.Fatal(err)
			}
			for want, got := range names {
				o[want] = o[got]
			}
			outs = append(outs, o)
		}
		return outs
	}
	ref, got := run(floatPath), run(qPath)
	keys := tensors
	if len(keys) == 0 {
		for k := range ref[0] {
			keys = append(keys, k)
		}
	}
	worst := math.Inf(1)
	for _, k := range keys {
		var signal, noise float64
		for i := range ref {
			a, _ := ref[i][k].Float32s()
			b, _ := got[i][k].Float32s()
			for j := range a {
				d := float64(b[j]) - float64(a[j])
				signal += float64(a[j]) * float64(a[j])
				noise += d * d
			}
		}
		worst = math.Min(worst, 10*math.Log10(signal/noise))
	}
	return worst
}
