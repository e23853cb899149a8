package dataset

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// ModelInputs returns the inputs of g that must be fed: graph inputs that
// are not initializers (in IR < 4 models every initializer is also listed
// as an input).
func ModelInputs(g *graph.Graph) []*graph.Value {
	var in []*graph.Value
	for _, v := range g.Inputs {
		if !v.IsConst() {
			in = append(in, v)
		}
	}
	return in
}

// maxProblems is how many problems Validate reports before it stops.
const maxProblems = 10

// Validate checks every sample of src against the model inputs (as
// ModelInputs returns them) before any work starts: each input has an
// array, each array is an input, element types and shapes agree (a -1 or
// symbolic model dimension accepts any size), and float data has no NaN or
// Inf. It reports up to 10 problems, each naming the array, the sample and
// the model input.
func Validate(src Source, inputs []*graph.Value) error {
	if src.Len() == 0 {
		return fmt.Errorf("the data set has no samples")
	}
	var errs []error
	for i := 0; i < src.Len() && len(errs) <= maxProblems; i++ {
		s, err := src.Sample(i)
		if err != nil {
			errs = append(errs, fmt.Errorf("sample %d: %w", i, err))
			continue
		}
		errs = append(errs, checkSample(i, s, inputs)...)
	}
	if len(errs) > maxProblems {
		errs = append(errs[:maxProblems], fmt.Errorf("(more problems not listed)"))
	}
	return errors.Join(errs...)
}

// CheckSample checks one sample against the model inputs, as Validate does
// for every sample; i is the sample number for messages.
func CheckSample(i int, sample map[string]*graph.Tensor, inputs []*graph.Value) error {
	return errors.Join(checkSample(i, sample, inputs)...)
}

func checkSample(i int, sample map[string]*graph.Tensor, inputs []*graph.Value) []error {
	var errs []error
	known := map[string]bool{}
	for _, in := range inputs {
		known[in.Name] = true
		t, ok := sample[in.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("sample %d has no array for model input %q (%s); it has %s",
				i, in.Name, describeInput(in), listNames(sample)))
			continue
		}
		if err := checkTensor(t, in); err != nil {
			errs = append(errs, fmt.Errorf("array %q, sample %d: %w", in.Name, i, err))
		}
	}
	for _, name := range sortedNames(sample) {
		if !known[name] {
			names := make([]string, len(inputs))
			for j, in := range inputs {
				names[j] = fmt.Sprintf("%q", in.Name)
			}
			errs = append(errs, fmt.Errorf("array %q (sample %d) is not a model input; the model's inputs are %s",
				name, i, strings.Join(names, ", ")))
		}
	}
	return errs
}

// checkTensor checks one array against its model input.
func checkTensor(t *graph.Tensor, in *graph.Value) error {
	if want := in.ElemType(); want != graph.Undefined && t.DType != want {
		return fmt.Errorf("element type %s, model input %q wants %s", t.DType, in.Name, want)
	}
	if dims, ok := in.Shape(); ok {
		match := len(dims) == len(t.Shape)
		for k := 0; match && k < len(dims); k++ {
			match = dims[k] < 0 || dims[k] == t.Shape[k]
		}
		if !match {
			hint := ""
			if len(t.Shape)+1 == len(dims) {
				hint = " (in an .npz the first axis indexes samples, so the array must have one more axis than the input)"
			}
			return fmt.Errorf("shape %v, model input %q wants %s%s", t.Shape, in.Name, formatDims(dims), hint)
		}
	}
	if k, v, ok := firstNonFinite(t); ok {
		return fmt.Errorf("element %d (index %v) is %v: calibration and evaluation data must be finite", k, unravel(k, t.Shape), v)
	}
	return nil
}

// firstNonFinite returns the flat index and value of the first NaN or Inf
// in a float tensor.
func firstNonFinite(t *graph.Tensor) (int, float64, bool) {
	switch d := t.Data.(type) {
	case []float32:
		for k, v := range d {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return k, f, true
			}
		}
	case []float64:
		for k, v := range d {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return k, v, true
			}
		}
	case []uint16:
		if t.DType != graph.Float16 && t.DType != graph.BFloat16 {
			return 0, 0, false
		}
		// Exponent bits all ones mean Inf or NaN in both formats.
		mask := uint16(0x7c00)
		if t.DType == graph.BFloat16 {
			mask = 0x7f80
		}
		for k, v := range d {
			if v&mask == mask {
				f, _ := t.Float32s()
				return k, float64(f[k]), true
			}
		}
	}
	return 0, 0, false
}

func unravel(k int, shape []int64) []int64 {
	idx := make([]int64, len(shape))
	for j := len(shape) - 1; j >= 0; j-- {
		if shape[j] > 0 {
			idx[j] = int64(k) % shape[j]
			k /= int(shape[j])
		}
	}
	return idx
}

func describeInput(in *graph.Value) string {
	dims, ok := in.Shape()
	s := in.ElemType().String()
	if ok {
		s += " " + formatDims(dims)
	}
	return s
}

func formatDims(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func sortedNames(m map[string]*graph.Tensor) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func listNames(m map[string]*graph.Tensor) string {
	if len(m) == 0 {
		return "no arrays"
	}
	names := sortedNames(m)
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
	}
	return "arrays " + strings.Join(names, ", ")
}
