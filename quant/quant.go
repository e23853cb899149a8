// Package quant is the arithmetic of linear quantization as ONNX defines
// it: the integer ranges of each quantized type, choosing a scale and zero
// point for a real range, and QuantizeLinear / DequantizeLinear on single
// values (round half to even, saturation).
//
// It is the one place this arithmetic lives: the engine's Q/DQ kernels,
// the calibrators, the materialization pass and the fake-quant op of QAT
// all call it, so they cannot disagree.
package quant

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// Type is a quantized element type with its integer range.
type Type struct {
	DType graph.DType
	// Narrow restricts a signed type to a range symmetric about zero
	// ([-127, 127] for int8, [-7, 7] for int4), as symmetric weight
	// quantization (and TensorRT) uses.
	Narrow bool
}

// Range returns the smallest and largest quantized integer of t.
func (t Type) Range() (qmin, qmax int64) {
	lo, hi := t.DType.IntRange()
	if t.Narrow && lo < 0 {
		lo = -hi
	}
	return lo, hi
}

// Bits returns the width of the type.
func (t Type) Bits() int { return t.DType.Bits() }

// Signed reports whether the type is signed.
func (t Type) Signed() bool {
	lo, _ := t.DType.IntRange()
	return lo < 0
}

// String returns e.g. "INT8" or "INT8 (narrow)".
func (t Type) String() string {
	if t.Narrow {
		return t.DType.String() + " (narrow)"
	}
	return t.DType.String()
}

// Supported lists the element types onnxq quantizes to.
var Supported = []graph.DType{graph.Int4, graph.Uint4, graph.Int8, graph.Uint8, graph.Int16, graph.Uint16}

// ParseType parses "int8", "uint8", "int4", "uint4", "int16", "uint16".
func ParseType(s string) (graph.DType, error) {
	switch s {
	case "int8":
		return graph.Int8, nil
	case "uint8":
		return graph.Uint8, nil
	case "int4":
		return graph.Int4, nil
	case "uint4":
		return graph.Uint4, nil
	case "int16":
		return graph.Int16, nil
	case "uint16":
		return graph.Uint16, nil
	}
	return graph.Undefined, fmt.Errorf("unknown quantized type %q (want int4, uint4, int8, uint8, int16 or uint16)", s)
}

// Params are the scale and zero point of one quantized tensor or channel.
type Params struct {
	Scale     float32
	ZeroPoint int64
}

// ParamsFor returns the scale and zero point that map the real range
// [lo, hi] onto t. The range is first widened to contain zero (so that zero
// is exact, as padding and ReLU need). symmetric forces the zero point to
// the middle of the type (0 for signed types, 2^(bits-1) for unsigned
// ones) and uses max(|lo|, |hi|) on both sides. A degenerate range gives
// scale 1 (as ONNX Runtime's quantizer does) so that no division by zero
// happens downstream.
func ParamsFor(lo, hi float64, t Type, symmetric bool) Params {
	lo = math.Min(lo, 0)
	hi = math.Max(hi, 0)
	qmin, qmax := t.Range()
	if symmetric {
		absmax := math.Max(-lo, hi)
		var zp int64
		if !t.Signed() {
			zp = (qmin + qmax + 1) / 2
		}
		half := float64(qmax-qmin) / 2
		scale := absmax / half
		if scale == 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
			return Params{Scale: 1, ZeroPoint: zp}
		}
		return Params{Scale: float32(scale), ZeroPoint: zp}
	}
	scale := (hi - lo) / float64(qmax-qmin)
	if scale == 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return Params{Scale: 1, ZeroPoint: clampInt(0, qmin, qmax)}
	}
	s32 := float64(float32(scale))
	zp := int64(math.RoundToEven(float64(qmin) - lo/s32))
	return Params{Scale: float32(scale), ZeroPoint: clampInt(zp, qmin, qmax)}
}

func clampInt(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// Quantize is ONNX QuantizeLinear for one value: saturate(round(x/scale)
// + zero point) with round half to even, saturating to the full range of
// dt (ONNX saturates to the type's range, not to a narrow range). The
// division is in float32, as ONNX Runtime and the reference implementation
// do it.
func Quantize(x, scale float32, zp int64, dt graph.DType) int64 {
	lo, hi := dt.IntRange()
	return Saturate(float64(x/scale), zp, lo, hi)
}

// Saturate is QuantizeLinear's integer step for a value q already divided
// by its scale: round half to even, add the zero point, saturate to
// [lo, hi]. NaN gives lo, as in ONNX Runtime's kernels (their maximum with
// the lower bound drops a NaN). It is the one definition: onnxq's engine
// runs its QuantizeLinear kernel with it.
func Saturate(q float64, zp, lo, hi int64) int64 {
	r := math.RoundToEven(q) + float64(zp)
	switch {
	case r != r || r < float64(lo):
		return lo
	case r > float64(hi):
		return hi
	}
	return int64(r)
}

// Dequantize is ONNX DequantizeLinear for one value: (q - zp) * scale,
// computed in float32 as the ONNX reference does.
func Dequantize(q int64, scale float32, zp int64) float32 {
	return float32(q-zp) * scale
}

// FakeQuant quantizes and dequantizes x: the value a QuantizeLinear ->
// DequantizeLinear pair produces.
func FakeQuant(x float32, p Params, dt graph.DType) float32 {
	return Dequantize(Quantize(x, p.Scale, p.ZeroPoint, dt), p.Scale, p.ZeroPoint)
}
