package engine

import (
	"math/rand/v2"
	"testing"
)

// TestSimdLoops compares the vector loops (assembly where the CPU has it)
// with plain Go on every length up to 70 (all tail cases). FMA rounds
// once where Go rounds twice: the tolerance is a few float32 ulps of the
// terms' size.
func TestSimdLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for n := 0; n <= 70; n++ {
		x, y := make([]float32, n+3), make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		a := float32(rng.NormFloat64())
		got, want := append([]float32{}, y...), append([]float32{}, y...)
		addScaled(a, x, got)
		addScaledGo(a, x, want)
		for i := range got {
			if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("addScaled n=%d [%d]: %g, want %g", n, i, got[i], want[i])
			}
		}
		got, want = append([]float32{}, y...), append([]float32{}, y...)
		maxInto(got, x)
		maxIntoGo(want, x)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("maxInto n=%d [%d]: %g, want %g", n, i, got[i], want[i])
			}
		}
		img := make([]float32, n+3*20+9)
		for i := range img {
			img[i] = float32(rng.NormFloat64())
		}
		wk := []float32{0.5, -1, 2, 0.25, 1.5, -0.75}
		got, want = append([]float32{}, y...), append([]float32{}, y...)
		depthwiseRow(got, img, 20, wk, 2, 3, 4)
		depthwiseRowGo(want, img, 20, wk, 2, 3, 4)
		for i := range got {
			if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("depthwiseRow n=%d [%d]: %g, want %g", n, i, got[i], want[i])
			}
		}
		ev, od := make([]float32, n), make([]float32, n)
		deinterleave2(ev, od, append(append([]float32{}, x...), y...))
		for i := range ev {
			src := append(append([]float32{}, x...), y...)
			if ev[i] != src[2*i] || od[i] != src[2*i+1] {
				t.Fatalf("deinterleave2 n=%d [%d]", n, i)
			}
		}
		d, w := dotRow(y, x), dotRowGo(y, x)
		if diff := d - w; diff > 1e-4*float32(n+1) || diff < -1e-4*float32(n+1) {
			t.Fatalf("dotRow n=%d: %g, want %g", n, d, w)
		}
	}
}
