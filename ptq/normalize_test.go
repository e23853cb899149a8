package ptq

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/rewrite"
)

// TestNormalizeKeepsOutputs runs each reference model before and after the
// normalization passes (BN folding, affine folding, Div->Mul, chain merging,
// opset upgrade, ...) on a real input and checks that the outputs agree to
// float32 rounding: the passes only reassociate arithmetic, so the error
// bound is a few ulps of the output's magnitude accumulated over the
// network's depth; 1e-4 of the largest output magnitude is generous for
// that and far below any quantization effect (1/255 = 4e-3).
func TestNormalizeKeepsOutputs(t *testing.T) {
	img := testdata.Path(t, "images/messi5.jpg")
	cases := []struct{ model, preset string }{
		{"blazeface/face_detection_front_128x128_barracuda.onnx", "blazeface-front"},
		{"ppocr/ch_PP-OCRv4_det_infer.onnx", "ppocr-det"},
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			decoded, err := dataset.DecodeImageFile(img)
			if err != nil {
				t.Fatal(err)
			}
			pre := dataset.ImagePresets[tc.preset]
			x, err := pre.Apply(decoded)
			if err != nil {
				t.Fatal(err)
			}
			run := func(m *graph.Model) map[string]*graph.Tensor {
				p, err := engine.Compile(m)
				if err != nil {
					t.Fatal(err)
				}
				in := map[string]*graph.Tensor{dataset.ModelInputs(m.Graph)[0].Name: x}
				out, err := p.Run(in, nil)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			orig, err := graph.FromFile(testdata.Path(t, tc.model))
			if err != nil {
				t.Fatal(err)
			}
			want := run(orig)
			m, _ := graph.FromFile(testdata.Path(t, tc.model))
			opts, _ := Defaults().Options()
			var log rewrite.Log
			if err := Normalize(m, opts, &log); err != nil {
				t.Fatal(err)
			}
			got := run(m)
			for name, w := range want {
				wf, _ := w.Float32s()
				gf, _ := got[name].Float32s()
				var maxAbs, maxErr float64
				for i := range wf {
					maxAbs = math.Max(maxAbs, math.Abs(float64(wf[i])))
					maxErr = math.Max(maxErr, math.Abs(float64(wf[i]-gf[i])))
				}
				t.Logf("%s: max error %.3g (max |value| %.3g)", name, maxErr, maxAbs)
				if maxErr > 1e-4*maxAbs {
					t.Errorf("%s: normalization changed the output by %.3g (max |value| %.3g)", name, maxErr, maxAbs)
				}
			}
			for _, e := range log.Entries {
				t.Logf("%s: %s", e.Pass, e.Message)
			}
		})
	}
}
