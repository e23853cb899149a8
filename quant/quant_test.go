package quant

import (
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
	cases := []struct {
		x     float32
		scale float32
		zp    int64
		dt    graph.DType
		want  int64
	}{
		{2.5, 1, 0, graph.Int8, 2},      // half to even
		{3.5, 1, 0, graph.Int8, 4},      // half to even
		{-2.5, 1, 0, graph.Int8, -2},    // half to even
		{1000, 1, 0, graph.Int8, 127},   // saturates high
		{-1000, 1, 0, graph.Int8, -128}, // full range, not narrow
		{0, 0.1, 128, graph.Uint8, 128},
		{-1, 0.1, 5, graph.Uint8, 0},
		{7.4, 1, 0, graph.Int4, 7},
		{-9, 1, 0, graph.Int4, -8},
		{20, 1, 0, graph.Uint4, 15},
		{40000, 1, 0, graph.Int16, 32767},
		{float32(math.NaN()), 1, 128, graph.Uint8, 0},   // NaN: the low end, as ONNX Runtime
		{float32(math.Inf(1)), 1, 128, graph.Uint8, 255}, // infinities saturate
		{float32(math.Inf(-1)), 1, 3, graph.Int8, -128},
	}
	for _, c := range cases {
		if got := Quantize(c.x, c.scale, c.zp, c.dt); got != c.want {
			t.Errorf("Quantize(%g, %g, %d, %s) = %d, want %d", c.x, c.scale, c.zp, c.dt, got, c.want)
		}
	}
}

// TestParamsForCoversRange checks, for every type and both zero-point
// rules, that the chosen params represent zero exactly and map the range
// ends to within half a step of the integer range ends.
func TestParamsForCoversRange(t *testing.T) {
	ranges := [][2]float64{{-1, 1}, {0, 6}, {-0.3, 5.7}, {-4, -1}, {2, 3}, {0, 0}}
	for _, dt := range Supported {
		for _, sym := range []bool{false, true} {
			for _, narrow := range []bool{false, true} {
				typ := Type{DType: dt, Narrow: narrow}
				for _, r := range ranges {
					p := ParamsFor(r[0], r[1], typ, sym)
					if !(p.Scale > 0) {
						t.Fatalf("%s sym=%v %v: scale %g", typ, sym, r, p.Scale)
					}
					qmin, qmax := typ.Range()
					if p.ZeroPoint < qmin || p.ZeroPoint > qmax {
						t.Errorf("%s sym=%v %v: zero point %d outside [%d, %d]", typ, sym, r, p.ZeroPoint, qmin, qmax)
					}
					if got := FakeQuant(0, p, dt); got != 0 {
						t.Errorf("%s sym=%v %v: zero is not exact (%g)", typ, sym, r, got)
					}
					lo, hi := math.Min(r[0], 0), math.Max(r[1], 0)
					for _, x := range []float64{lo, hi} {
						err := math.Abs(float64(FakeQuant(float32(x), p, dt)) - x)
						if err > float64(p.Scale)*0.5001+1e-7 && r != [2]float64{0, 0} {
							t.Errorf("%s sym=%v %v: %g comes back with error %g > half a step %g", typ, sym, r, x, err, p.Scale/2)
						}
					}
				}
			}
		}
	}
}

func TestSymmetricSignedZeroPointIsZero(t *testing.T) {
	p := ParamsFor(-3, 1, Type{DType: graph.Int8, Narrow: true}, true)
	if p.ZeroPoint != 0 || math.Abs(float64(p.Scale)-3.0/127) > 1e-9 {
		t.Fatalf("got %+v, want scale 3/127 and zero point 0", p)
	}
}
