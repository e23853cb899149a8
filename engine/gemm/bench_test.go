package gemm

import (
	"fmt"
	"math/rand"
	"testing"
)

// benchShapes are square products and the GEMMs of typical convolutions
// (weights M=out channels × K=in·kh·kw, times im2col columns K × N=pixels):
// ResNet 3x3 64->64 at 56x56, 3x3 256 at 14x14, and a first 3x3 RGB layer
// at 112x112.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"1024", 1024, 1024, 1024},
	{"512", 512, 512, 512},
	{"256", 256, 256, 256},
	{"conv64x3136x576", 64, 3136, 576},
	{"conv256x196x2304", 256, 196, 2304},
	{"conv32x12544x27", 32, 12544, 27},
}

// BenchmarkSgemm reports GFLOP/s (2mnk per call) for Sgemm, one and two
// threads: go test ./engine/gemm/ -run '^$' -bench Sgemm
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, th), func(b *testing.B) {
				defer SetThreads(0)
				SetThreads(th)
				r := rand.New(rand.NewSource(1))
				a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				b.ResetTimer()
				for range b.N {
					Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k)
			})
		}
	}
}

// BenchmarkPackedA is BenchmarkSgemm for the conv shapes with the weights
// packed once: go test ./engine/gemm/ -run '^$' -bench PackedA
func BenchmarkPackedA(b *testing.B) {
	for _, s := range benchShapes[3:] {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, th), func(b *testing.B) {
				defer SetThreads(0)
				SetThreads(th)
				r := rand.New(rand.NewSource(1))
				a, bb, c := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				pa := PackA(false, s.m, s.k, a, s.k)
				pa.Mul(s.n, 1, bb, s.n, 0, c, s.n)
				b.ResetTimer()
				for range b.N {
					pa.Mul(s.n, 1, bb, s.n, 0, c, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k)
			})
		}
	}
}

func reportGFLOPS(b *testing.B, m, n, k int) {
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
