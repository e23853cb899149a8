package graph

import (
	"math"
)

// constVal is a tensor value known during inference: the elements of a
// small integer, bool or floating-point tensor. Integer (and bool) elements
// are symDims, so that Shape of a partly symbolic shape and what is
// computed from it keep the known sizes and the names; float elements are
// NaN where unknown.
type constVal struct {
	dt     DType
	shape  []int64
	ints   []symDim  // integer and bool types
	floats []float64 // floating-point types
}

// Initializers up to maxConstElems elements are tracked; computed values
// up to maxFoldElems. Shape computations are far smaller; the limits keep
// inference from copying weights.
const (
	maxConstElems = 1 << 16
	maxFoldElems  = 1 << 14
)

func isIntType(dt DType) bool { return dt.IsInteger() || dt == Bool }

// newConst returns a zero value of type dt and a static shape, or nil
// when dt is not tracked or the value is too large.
func newConst(dt DType, shape []int64) *constVal {
	n, ok := foldSize(shape)
	if !ok {
		return nil
	}
	cv := &constVal{dt: dt, shape: append([]int64{}, shape...)}
	switch {
	case isIntType(dt):
		cv.ints = make([]symDim, n)
	case dt.IsFloat():
		cv.floats = make([]float64, n)
	default:
		return nil
	}
	return cv
}

// foldSize returns the element count of a static shape when it is at most
// maxFoldElems.
func foldSize(shape []int64) (int, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d > maxFoldElems {
			return 0, false
		}
		if n *= d; n > maxFoldElems {
			return 0, false
		}
	}
	return int(n), true
}

func (cv *constVal) len() int {
	if cv.ints != nil {
		return len(cv.ints)
	}
	return len(cv.floats)
}

// constOf returns the known value of v, or nil.
func (inf *inferer) constOf(v *Value) *constVal {
	if v == nil {
		return nil
	}
	if cv, ok := inf.consts[v]; ok {
		return cv
	}
	var cv *constVal
	if v.Const != nil {
		cv = constFromTensor(v.Const)
	}
	inf.consts[v] = cv
	return cv
}

// constFromTensor converts a small numeric tensor.
func constFromTensor(t *Tensor) *constVal {
	if t.Len() > maxConstElems {
		return nil
	}
	cv := &constVal{dt: t.DType, shape: append([]int64{}, t.Shape...)}
	switch {
	case isIntType(t.DType):
		is, err := t.Int64s()
		if err != nil {
			return nil
		}
		cv.ints = make([]symDim, len(is))
		for i, x := range is {
			cv.ints[i] = knownDim(x)
		}
	case t.DType == Double:
		cv.floats = append([]float64{}, t.Data.([]float64)...)
	case t.DType.IsFloat():
		fs, err := t.Float32s()
		if err != nil {
			return nil
		}
		cv.floats = make([]float64, len(fs))
		for i, x := range fs {
			cv.floats[i] = float64(x)
		}
	default:
		return nil
	}
	if cv.ints == nil && cv.floats == nil { // an empty tensor
		if isIntType(t.DType) {
			cv.ints = []symDim{}
		} else {
			cv.floats = []float64{}
		}
	}
	return cv
}

// knownInts returns the elements of an integer value when all are known.
func (cv *constVal) knownInts() ([]int64, bool) {
	if cv.ints == nil {
		return nil, false
	}
	out := make([]int64, len(cv.ints))
	for i, d := range cv.ints {
		if !d.ok {
			return nil, false
		}
		out[i] = d.n
	}
	return out, true
}

// knownIntsOrNil is knownInts that also accepts a nil value.
func (cv *constVal) knownIntsOrNil() ([]int64, bool) {
	if cv == nil {
		return nil, false
	}
	return cv.knownInts()
}

// knownFloats returns the elements as float64 when all are known.
func (cv *constVal) knownFloats() ([]float64, bool) {
	if cv.floats != nil {
		for _, f := range cv.floats {
			if math.IsNaN(f) {
				return nil, false
			}
		}
		return cv.floats, true
	}
	is, ok := cv.knownInts()
	if !ok {
		return nil, false
	}
	out := make([]float64, len(is))
	for i, x := range is {
		out[i] = float64(x)
	}
	return out, true
}

// pick returns the value of cv's type and the given shape whose element
// k is cv's element idx[k] (nil when too large).
func (cv *constVal) pick(shape []int64, idx []int) *constVal {
	out := newConst(cv.dt, shape)
	if out == nil || out.len() != len(idx) {
		return nil
	}
	for k, i := range idx {
		if out.ints != nil {
			out.ints[k] = cv.ints[i]
		} else {
			out.floats[k] = cv.floats[i]
		}
	}
	return out
}

// bcastIndex maps each element of a tensor of shape out (row-major) to
// the element of a tensor of shape in that numpy broadcasting sends there.
func bcastIndex(out, in []int64) []int {
	n := 1
	for _, d := range out {
		n *= int(d)
	}
	r := len(out)
	off := r - len(in)
	stride := make([]int, r)
	s := 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			stride[i+off] = s
		}
		s *= int(in[i])
	}
	idx := make([]int, n)
	coord := make([]int, r)
	for k := range idx {
		sum := 0
		for i, c := range coord {
			sum += c * stride[i]
		}
		idx[k] = sum
		for i := r - 1; i >= 0; i-- {
			coord[i]++
			if coord[i] < int(out[i]) {
				break
			}
			coord[i] = 0
		}
	}
	return idx
}

// castConst converts a value to element type to as ONNX Cast does
// (float to integer truncates toward zero).
func castConst(cv *constVal, to DType) *constVal {
	out := newConst(to, cv.shape)
	if out == nil {
		return nil
	}
	for k := 0; k < cv.len(); k++ {
		switch {
		case out.ints != nil && cv.ints != nil:
			d := cv.ints[k]
			if to == Bool && d.ok {
				d = knownDim(boolInt(d.n != 0))
			}
			out.ints[k] = d
		case out.ints != nil:
			f := cv.floats[k]
			switch {
			case math.IsNaN(f) || math.IsInf(f, 0):
				out.ints[k] = unknownDim
			case to == Bool:
				out.ints[k] = knownDim(boolInt(f != 0))
			default:
				out.ints[k] = knownDim(int64(math.Trunc(f)))
			}
		case cv.ints != nil:
			out.floats[k] = math.NaN()
			if cv.ints[k].ok {
				out.floats[k] = roundFloat(float64(cv.ints[k].n), to)
			}
		default:
			out.floats[k] = roundFloat(cv.floats[k], to)
		}
	}
	return out
}

func roundFloat(f float64, dt DType) float64 {
	if dt == Double {
		return f
	}
	return float64(float32(f))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
