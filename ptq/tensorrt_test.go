package ptq

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/qat"
	"github.com/onnxq/onnxq/rewrite"
)

// tensorRTProblems walks a written model and lists every way it departs
// from TensorRT's explicit-quantization profile (../shared/DESIGN.md):
// every Q/DQ zero point is a constant 0 of type INT8 (INT32 for biases);
// weights (constant integer tensors of rank >= 2 feeding DequantizeLinear)
// have one scale per output channel; both inputs of every Add of two
// computed tensors (a residual Add) come from DequantizeLinear; the inputs
// of a Concat share one scale; and no graph output is produced by, or
// read by, a QuantizeLinear or DequantizeLinear.
func tensorRTProblems(m *graph.Model) (problems []string, checked map[string]int) {
	checked = map[string]int{}
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	dqScale := func(v *graph.Value) (string, bool) {
		if v == nil || v.Producer == nil || v.Producer.OpType != "DequantizeLinear" {
			return "", false
		}
		s := v.Producer.Input(1)
		f, _ := s.Const.Float32s()
		return fmt.Sprint(f), true
	}
	uses := m.Graph.UseMap()
	m.Graph.Walk(func(n *graph.Node) bool {
		switch n.OpType {
		case "QuantizeLinear", "DequantizeLinear":
			zp := n.Input(2)
			if zp == nil || !zp.IsConst() {
				bad("%s: no constant zero point", n.Label())
				return true
			}
			want := graph.Int8
			if x := n.Input(0); n.OpType == "DequantizeLinear" && x.IsConst() && x.Const.DType == graph.Int32 {
				want = graph.Int32
			}
			if zp.Const.DType != want {
				bad("%s: zero point type %s, want %s", n.Label(), zp.Const.DType, want)
			}
			z, _ := zp.Const.Int64s()
			for _, v := range z {
				if v != 0 {
					bad("%s: zero point %d, want 0", n.Label(), v)
					break
				}
			}
			if x := n.Input(0); n.OpType == "DequantizeLinear" && x.IsConst() && x.Const.Rank() >= 2 {
				checked["weight"]++
				axis := n.AttrInt("axis", 1)
				if n.Input(1).Const.Len() != int(x.Const.Shape[axis]) || x.Const.Shape[axis] < 2 {
					bad("%s: weight %q of shape %v has %d scales, want one per channel of axis %d", n.Label(), x.Name, x.Const.Shape, n.Input(1).Const.Len(), axis)
				}
			}
			if x := n.Input(0); n.OpType == "QuantizeLinear" && !x.IsConst() {
				checked["activation"]++
				if n.Input(1).Const.Len() != 1 {
					bad("%s: activation %q has %d scales, want one (per tensor)", n.Label(), x.Name, n.Input(1).Const.Len())
				}
			}
			for _, v := range append(append([]*graph.Value{}, n.Inputs[:1]...), n.Outputs...) {
				if v.IsGraphOutput() {
					bad("%s: Q/DQ on graph output %q", n.Label(), v.Name)
				}
			}
		case "Add":
			a, b := n.Input(0), n.Input(1)
			if a.IsConst() || b.IsConst() {
				return true
			}
			checked["residual Add"]++
			_, qa := dqScale(a)
			_, qb := dqScale(b)
			if !qa || !qb {
				bad("residual %s: inputs quantized: %v, %v; want both", n.Label(), qa, qb)
			}
		case "Concat":
			checked["Concat"]++
			var first string
			for i, v := range n.Inputs {
				s, ok := dqScale(v)
				if !ok {
					bad("%s: input %d (%q) is not quantized", n.Label(), i, v.Name)
					continue
				}
				if first == "" {
					first = s
				} else if s != first {
					bad("%s: input %d has scale %s, input 0 %s", n.Label(), i, s, first)
				}
			}
		}
		return true
	})
	for _, o := range m.Graph.Outputs {
		for _, r := range uses[o] {
			if r.OpType == "QuantizeLinear" {
				bad("graph output %q is read by %s", o.Name, r.Label())
			}
		}
	}
	return problems, checked
}

// TestTensorRTTarget quantizes mnist-7 and BlazeFace (front) with
// --target tensorrt and checks the written models against the profile by
// walking them (tensorRTProblems), with qat.Export's TensorRT check, with
// the official checker and in ONNX Runtime 1.30, which must run them.
func TestTensorRTTarget(t *testing.T) {
	if err := ort.Init(testdata.ORTLib(t)); err != nil {
		t.Fatal(err)
	}
	blazeCalib, blazeHeld := imageSplit(t, dataset.ImagePresets["blazeface-front"])
	cases := []struct {
		model        string
		calib, check dataset.Source
	}{
		{"mnist-7", mnistSource(t, "train-images-idx3-ubyte.gz", 200), mnistSource(t, "t10k-images-idx3-ubyte.gz", 200)},
		{"blazeface-front", blazeCalib, blazeHeld},
	}
	dir := t.TempDir()
	var paths []string
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			floatPath := testdata.Path(t, testdata.RealModels[tc.model])
			m, err := graph.FromFile(floatPath)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Defaults()
			cfg.Target = TensorRT
			res, err := Quantize(m, tc.calib, cfg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.model+".trt.onnx")
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			testdata.Written(t, path)
			paths = append(paths, path)

			written, err := graph.FromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			written.Graph.Walk(func(n *graph.Node) bool { counts[n.OpType]++; return true })
			t.Logf("%d nodes quantized, %d float; written model: %s", res.Quantized, res.Float, ort.FormatOpTypes(counts))
			if counts["QuantizeLinear"] == 0 || counts["DequantizeLinear"] == 0 {
				t.Fatalf("no Q/DQ nodes in the written model")
			}
			problems, checked := tensorRTProblems(written)
			t.Logf("profile checked on: %v", checked)
			for _, p := range problems {
				t.Error(p)
			}
			if checked["weight"] == 0 || checked["activation"] == 0 {
				t.Errorf("the profile check saw no weights or no activations")
			}
			if err := qat.Export(written, qat.ExportTensorRT, &rewrite.Log{}); err != nil {
				t.Errorf("qat.Export(tensorrt) rejects the model: %v", err)
			}

			ref := ortRun(t, floatPath, tc.check)
			got := ortRun(t, path, tc.check)
			sqnr := outputSQNR(t, ref, got)
			for _, name := range sortedKeys(sqnr) {
				t.Logf("output %q: SQNR %.2f dB in ONNX Runtime on %d held-out samples", name, sqnr[name], tc.check.Len())
			}
			ops := optimizedOps(t, path)
			t.Logf("ONNX Runtime 'extended' graph: %s", ort.FormatOpTypes(ops))
		})
	}
	testdata.CheckONNX(t, true, paths...)

	// The walk is not vacuous: BlazeFace has residual Adds and Concats,
	// and the default (ONNX Runtime, U8S8) model breaks the profile.
	t.Run("ort-target-fails-profile", func(t *testing.T) {
		m, err := graph.FromFile(testdata.Path(t, testdata.RealModels["blazeface-front"]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Quantize(m, blazeCalib, Defaults()); err != nil {
			t.Fatal(err)
		}
		problems, checked := tensorRTProblems(m)
		if checked["residual Add"] == 0 || checked["Concat"] == 0 {
			t.Errorf("BlazeFace: no residual Add or Concat checked: %v", checked)
		}
		if len(problems) == 0 {
			t.Errorf("the U8S8 model passes the TensorRT profile check")
		}
		t.Logf("the U8S8 model breaks the profile in %d places, e.g. %s", len(problems), problems[0])
	})
}
