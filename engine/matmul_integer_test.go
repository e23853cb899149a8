package engine

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func randInt8(rng *rand.Rand, shape ...int64) *graph.Tensor {
	t := graph.Zeros(graph.Int8, shape)
	for i := range t.Data.([]int8) {
		t.Data.([]int8)[i] = int8(rng.IntN(256) - 128)
	}
	return t
}

func randUint8(rng *rand.Rand, shape ...int64) *graph.Tensor {
	t := graph.Zeros(graph.Uint8, shape)
	for i := range t.Data.([]uint8) {
		t.Data.([]uint8)[i] = uint8(rng.IntN(256))
	}
	return t
}

// TestMatMulIntegerZeroPoints checks per-row and per-column zero points
// and batch broadcasting against a direct int64 computation.
func TestMatMulIntegerZeroPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	a, b := randUint8(rng, 2, 3, 4), randInt8(rng, 4, 5)
	za, zb := randUint8(rng, 3), randInt8(rng, 5)
	y := runOp(t, "MatMulInteger", 10, nil, 1, []*graph.Tensor{a, b, za, zb})[0]
	ad, bd := a.Data.([]uint8), b.Data.([]int8)
	zad, zbd := za.Data.([]uint8), zb.Data.([]int8)
	got := y.Data.([]int32)
	for t0 := 0; t0 < 2; t0++ {
		for i := 0; i < 3; i++ {
			for j := 0; j < 5; j++ {
				var s int64
				for k := 0; k < 4; k++ {
					s += (int64(ad[(t0*3+i)*4+k]) - int64(zad[i])) * (int64(bd[k*5+j]) - int64(zbd[j]))
				}
				if int64(got[(t0*3+i)*5+j]) != s {
					t.Fatalf("[%d %d %d] = %d, want %d", t0, i, j, got[(t0*3+i)*5+j], s)
				}
			}
		}
	}
}

// TestConvIntegerMatchesConv compares ConvInteger with Conv on the shifted
// values converted to float. The sums (at most 2·9·255·255 < 2^24 in
// magnitude) are exact in float32, so the results must be equal.
func TestConvIntegerMatchesConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x, w := randUint8(rng, 1, 2, 5, 6), randInt8(rng, 3, 2, 3, 3)
	zx, zw := randUint8(rng), randInt8(rng, 3)
	attrs := map[string]any{"pads": []int64{1, 0, 1, 1}, "strides": []int64{2, 1}}
	y := runOp(t, "ConvInteger", 10, attrs, 1, []*graph.Tensor{x, w, zx, zw})[0]
	xf := make([]float32, x.Len())
	for i, v := range x.Data.([]uint8) {
		xf[i] = float32(int(v) - int(zx.Data.([]uint8)[0]))
	}
	wf := make([]float32, w.Len())
	for i, v := range w.Data.([]int8) {
		wf[i] = float32(int(v) - int(zw.Data.([]int8)[i/18]))
	}
	want := runOp(t, "Conv", 13, attrs, 1, []*graph.Tensor{graph.MustTensor(graph.Float, x.Shape, xf), graph.MustTensor(graph.Float, w.Shape, wf)})[0]
	for i, v := range y.Data.([]int32) {
		if float32(v) != want.Data.([]float32)[i] {
			t.Fatalf("element %d: %d, want %g", i, v, want.Data.([]float32)[i])
		}
	}
}
