//go:build cgo

package engine_test

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// The Go engine against ONNX Runtime 1.30 (CPU, all graph optimizations,
// one thread) on the reference models and real inputs. For every output
// the test reports, over all samples: the largest absolute error, that
// error relative to the largest reference magnitude, and the cosine
// similarity (over all values, and the worst single sample). Rerun with
//
//	go test ./engine -run TestAgreesWithORT -v
//
// How the tolerances are derived. Both engines compute in float32 but sum
// in different orders (blocked GEMM kernels, im2col vs direct, fused
// Conv+Add+Relu in ORT). A sum of K products reassociated differently
// changes by about sqrt(K)*eps*sum|terms| (eps = 2^-24 ~ 6e-8 per rounding,
// random-walk accumulation), i.e. ~1e-6 relative for K in the thousands.
// Each layer adds its own such error and passes on the earlier ones
// multiplied by its gain, so after D layers the relative error is about
// D * sqrt(K) * eps times a gain factor; the bounds below are the measured
// figures times a margin (stated per model), far below any error that
// changes a result (a wrong kernel shows up as relative errors of 1e-2 and
// more, cosine well under 0.9999).

// agreementCase is one reference model and the inputs it is compared on.
type agreementCase struct {
	model string // key of testdata.RealModels
	// inputs returns the samples.
	inputs func(t *testing.T, m *evaluate.Model) dataset.Source
	// maxRel bounds MaxAbs/MaxRef of every output; minCos bounds the
	// cosine similarity of every single sample, or only of all samples
	// together when cosAll is set.
	maxRel, minCos float64
	cosAll         bool
}

var agreementCases = []agreementCase{
	{
		// Two Conv layers (K = 25, 200) and a MatMul (K = 256): the estimate
		// is 3 * sqrt(256) * 6e-8 ~ 3e-6. Measured: 4.0e-7 relative (logits
		// up to 8.6e3), cosine 1 - 1e-14. Bound: 25x the measurement.
		model: "mnist-7", maxRel: 1e-5, minCos: 1 - 1e-9,
		inputs: func(t *testing.T, m *evaluate.Model) dataset.Source {
			sets, err := m.OpenTestDataSets(testdata.Path(t, "mnist-7"))
			if err != nil {
				t.Fatal(err)
			}
			images, err := m.OpenMNIST(testdata.Path(t, "mnist/t10k-images-idx3-ubyte.gz"), 1)
			if err != nil {
				t.Fatal(err)
			}
			first, err := dataset.Slice(images, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			return concat{sets, first}
		},
	},
	{
		// BlazeFace front: 37 Conv layers (depthwise K = 25, pointwise
		// K <= 96): estimate 37 * sqrt(96) * 6e-8 ~ 2e-5. Measured: 1.2e-6
		// relative (largest on the anchor scores, |x| <= 230), cosine
		// 1 - 1e-12. Bound: 17x the measurement.
		model: "blazeface-front", maxRel: 2e-5, minCos: 1 - 1e-9,
		inputs: imageFolder("blazeface-front"),
	},
	{
		// BlazeFace back: 69 Conv layers (K <= 96): estimate ~4e-5.
		// Measured: 1.4e-6 relative, cosine 1 - 1e-12. Bound: 14x.
		model: "blazeface-back", maxRel: 2e-5, minCos: 1 - 1e-9,
		inputs: imageFolder("blazeface-back"),
	},
	{
		// PP-OCRv4 det at its preset sizes (longer side <= 960, multiples
		// of 32): 62 Conv (K up to 9 * 96), 2 ConvTranspose, 6 Resize, then
		// a sigmoid probability map in [0, 1]. Measured: 6.9e-5 absolute
		// (= relative, max |ref| = 1), on a pixel at p = 0.475 where the
		// sigmoid is steepest; cosine over all maps 1 - 1e-10. Bound: 15x.
		//
		// The cosine of single samples is not bounded here: on the photos
		// without text (apple.jpg: every probability below 3e-7) it compares
		// noise. ONNX Runtime's sigmoid (MLAS) resolves probabilities near
		// 0 only to about 6e-8 absolute: it returns exact 0 and multiples of
		// ~1.5e-8 where the exact value is 1e-33 to 1e-7 (the Go engine
		// returns those tiny values), so the cosine of such a map drops to
		// 0.82 while the absolute error stays under 1.3e-7.
		model: "ppocr-det", maxRel: 1e-3, minCos: 1 - 1e-9, cosAll: true,
		inputs: imageFolder("ppocr-det"),
	},
}

// imageFolder returns the reference photos preprocessed with a preset.
func imageFolder(preset string) func(t *testing.T, m *evaluate.Model) dataset.Source {
	return func(t *testing.T, m *evaluate.Model) dataset.Source {
		src, err := dataset.OpenImageFolder(testdata.Path(t, "images"), dataset.ImagePresets[preset])
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
}

// concat chains sources.
type concat []dataset.Source

func (c concat) Len() int {
	n := 0
	for _, s := range c {
		n += s.Len()
	}
	return n
}

func (c concat) Sample(i int) (map[string]*graph.Tensor, error) {
	for _, s := range c {
		if i < s.Len() {
			return s.Sample(i)
		}
		i -= s.Len()
	}
	return nil, fmt.Errorf("sample out of range")
}

// ortLib is $ONNXRUNTIME_LIB or the ONNX Runtime 1.30 library of the
// reference data.
func ortLib(t testing.TB) string {
	t.Helper()
	if lib := os.Getenv(ort.LibraryEnv); lib != "" {
		return lib
	}
	return testdata.Path(t, "ort/libonnxruntime.so.1")
}

func TestAgreesWithORT(t *testing.T) {
	for _, c := range agreementCases {
		t.Run(c.model, func(t *testing.T) {
			path := testdata.Path(t, testdata.RealModels[c.model])
			goModel, err := evaluate.Open(path, evaluate.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ortModel, err := evaluate.Open(path, evaluate.Options{Engine: evaluate.EngineORT, ORTLib: ortLib(t), Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer ortModel.Close()
			src := c.inputs(t, goModel)
			diffs := map[string]*evaluate.Diff{}
			err = goModel.Each(src, evaluate.EachOptions{}, func(i int, got map[string]*graph.Tensor) error {
				sample, err := src.Sample(i)
				if err != nil {
					return err
				}
				want, err := ortModel.Run(sample)
				if err != nil {
					return err
				}
				for _, name := range goModel.Outputs {
					d := diffs[name]
					if d == nil {
						d = &evaluate.Diff{}
						diffs[name] = d
					}
					if err := d.Add(got[name], want[name]); err != nil {
						return fmt.Errorf("sample %d, output %q: %w", i, name, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			names := make([]string, 0, len(diffs))
			for n := range diffs {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				d := diffs[n]
				line := fmt.Sprintf("%-16s %-16s %4d samples  max abs %-9.3g max rel %-9.3g max |ref| %-9.3g 1-cosine %-9.2g (worst sample %.2g)",
					c.model, n, src.Len(), d.MaxAbs, d.MaxRel, d.MaxRef, 1-d.Cosine, 1-d.MinCosine)
				t.Log(line)
				cos := d.MinCosine
				if c.cosAll {
					cos = d.Cosine
				}
				if d.MaxRel > c.maxRel || cos < c.minCos || d.NaNs > 0 {
					t.Errorf("output %q disagrees with ONNX Runtime beyond max rel %g / cosine %g: %v", n, c.maxRel, c.minCos, d)
				}
			}
		})
	}
}
