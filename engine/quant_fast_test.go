package engine

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// TestQuantFastMatchesGeneral checks that the float32 -> integer fast
// paths of QuantizeLinear and DequantizeLinear give bit-identical results
// to the general kernels, for every integer type up to 16 bits, per
// tensor and per axis, with and without zero points, on values that
// include exact halves (round half to even), saturation, NaN and
// infinities.
func TestQuantFastMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	types := []graph.DType{graph.Uint8, graph.Int8, graph.Uint16, graph.Int16, graph.Uint4, graph.Int4}
	shape := []int64{4, 30, 50}
	for _, od := range types {
		lo, hi := od.IntRange()
		for _, axis := range []int64{-1, 0, 1, 2} { // -1: per tensor
			for _, withZP := range []bool{false, true} {
				attrs := map[string]any{}
				sshape := []int64{}
				ns := 1
				if axis >= 0 {
					attrs["axis"] = axis
					ns = int(shape[axis])
					sshape = []int64{int64(ns)}
				}
				s := make([]float32, ns)
				for i := range s {
					s[i] = float32(math.Ldexp(1+rng.Float64(), rng.IntN(9)-6))
				}
				x := make([]float32, ShapeSize(shape))
				for i := range x {
					switch i % 6 {
					case 0: // an exact half step of the smallest scale
						x[i] = (float32(rng.IntN(40)-20) + 0.5) * s[0]
					case 1: // far out of range
						x[i] = float32(rng.NormFloat64() * float64(hi-lo) * 8)
					case 2: // any float32 (subnormals, huge values, NaNs)
						x[i] = math.Float32frombits(rng.Uint32())
					default:
						x[i] = float32(rng.NormFloat64() * 20)
					}
				}
				x[1], x[2], x[3] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
				xt, st := f32(shape, x...), graph.MustTensor(graph.Float, sshape, s)
				var zp *graph.Tensor
				if withZP {
					z := make([]int64, ns)
					for i := range z {
						z[i] = lo + rng.Int64N(hi-lo+1)
					}
					z[0], z[ns-1] = lo, hi // the extremes
					var err error
					if zp, err = castInts(z, sshape, od); err != nil {
						t.Fatal(err)
					}
				}
				ctx := &Context{Node: newTestNode("QuantizeLinear", attrs, 1), Opset: 21}
				l, err := newQuantLayout(ctx, xt, st)
				if err != nil {
					t.Fatal(err)
				}
				fast, ok := quantizeFast(ctx, xt, st, zp, od, l)
				if !ok {
					t.Fatalf("%s axis %d: the fast path does not apply", od, axis)
				}
				want, err := quantizeGeneral(ctx, xt, st, zp, od, l)
				if err != nil {
					t.Fatal(err)
				}
				if fast.DType != want.DType || !reflect.DeepEqual(fast.Data, want.Data) || !slices.Equal(fast.Shape, want.Shape) {
					t.Errorf("QuantizeLinear %s axis %d zp %v:\n fast %v\n want %v", od, axis, withZP, fast.Data, want.Data)
				}
				dq, ok := dequantizeFast(ctx, want, st, zp, graph.Float, l)
				if !ok {
					t.Fatalf("%s axis %d: the dequantize fast path does not apply", od, axis)
				}
				dwant, err := dequantizeGeneral(want, st, zp, graph.Float, l)
				if err != nil {
					t.Fatal(err)
				}
				if err := sameBits(map[string]*graph.Tensor{"y": dwant}, map[string]*graph.Tensor{"y": dq}); err != nil {
					t.Errorf("DequantizeLinear %s axis %d zp %v: %v", od, axis, withZP, err)
				}
			}
		}
	}
}
