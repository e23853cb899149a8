//go:build amd64 && !purego

package gemm

import (
	"math"
	"math/rand"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestPackAVX512 checks the AVX-512 packing routines against the portable
// ones: same panels, bit for bit, every padding lane zeroed, and nothing
// written past the packed block.
func TestPackAVX512(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("this CPU has no AVX-512F, so the AVX-512 packing is never used")
	}
	r := rand.New(rand.NewSource(5))
	const guard = 64
	nan := float32(math.NaN())
	check := func(what string, want, got []float32, n int) {
		t.Helper()
		for i := range n {
			if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
				t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
			}
		}
		for i := n; i < n+guard; i++ {
			if !math.IsNaN(float64(got[i])) {
				t.Fatalf("%s: wrote past the block at %d", what, i)
			}
		}
	}
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = nan
		}
		return s
	}
	for _, rows := range []int{1, 5, 13, 14, 15, 28, 29, 33, 64} {
		for _, kc := range []int{1, 7, 15, 16, 17, 31, 48, 256} {
			for _, trans := range []bool{false, true} {
				for _, pad := range []int{0, 3} {
					// A: the rows×kc block at (off, off) of op(A), mr = 14.
					off := pad
					srcRows, srcCols := rows+off, kc+off
					if trans {
						srcRows, srcCols = srcCols, srcRows
					}
					ld := srcCols + pad
					a := randSlice(r, srcRows*ld)
					n := packedSize(rows, kc, 14)
					want, got := fill(n+guard), fill(n+guard)
					packA(want, trans, a, ld, off, rows, off, kc, 14)
					packAAVX512(got, trans, a, ld, off, rows, off, kc, 14)
					check("packA", want, got, n)
					// B: the kc×rows block at (off, off) of op(B), nr = 32.
					srcRows, srcCols = kc+off, rows+off
					if trans {
						srcRows, srcCols = srcCols, srcRows
					}
					ld = srcCols + pad
					b := randSlice(r, srcRows*ld)
					n = packedSize(rows, kc, 32)
					want, got = fill(n+guard), fill(n+guard)
					packB(want, trans, b, ld, off, kc, off, rows, 32)
					packBAVX512(got, trans, b, ld, off, kc, off, rows, 32)
					check("packB", want, got, n)
				}
			}
		}
	}
}
