package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

// naiveBroadcastIndex maps each output element to the input offset by
// decomposing the flat index: the textbook definition of broadcasting.
func naiveBroadcastIndex(in, out []int64) []int {
	n := ShapeSize(out)
	idx := make([]int, n)
	st := Strides(in)
	for e := 0; e < n; e++ {
		rem, off := e, 0
		for d := len(out) - 1; d >= 0; d-- {
			i := rem % int(out[d])
			rem /= int(out[d])
			if k := d - (len(out) - len(in)); k >= 0 && in[k] != 1 {
				off += i * st[k]
			}
		}
		idx[e] = off
	}
	return idx
}

// TestBroadcastPlan compares the run-based broadcasting iteration with
// the naive definition on random shapes, over whole outputs and over
// arbitrary sub-ranges (as ParallelFor splits them).
func TestBroadcastPlan(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 500; trial++ {
		r := rng.IntN(5)
		out := make([]int64, r)
		for i := range out {
			out[i] = int64(1 + rng.IntN(4))
		}
		var ins [][]int64
		for k := 0; k < 3; k++ {
			rk := rng.IntN(r + 1)
			s := append([]int64{}, out[r-rk:]...)
			for i := range s {
				if rng.IntN(2) == 0 {
					s[i] = 1
				}
			}
			ins = append(ins, s)
		}
		p := newPlan(out, ins...)
		lo := rng.IntN(p.n + 1)
		hi := lo + rng.IntN(p.n-lo+1)
		got := make([][]int, len(ins))
		for k := range got {
			got[k] = make([]int, p.n)
			for i := range got[k] {
				got[k][i] = -1
			}
		}
		p.run(lo, hi, func(o int, offs []int, n int) {
			for k := range ins {
				for i := 0; i < n; i++ {
					got[k][o+i] = offs[k] + i*p.istep[k]
				}
			}
		})
		for k, in := range ins {
			want := naiveBroadcastIndex(in, out)
			for e := lo; e < hi; e++ {
				if got[k][e] != want[e] {
					t.Fatalf("out %v in %v range [%d,%d): element %d reads %d, want %d", out, in, lo, hi, e, got[k][e], want[e])
				}
			}
		}
	}
}

// TestUnbroadcast checks that summing back a broadcast gradient adds up
// every copy: ones broadcast from [3,1] to [2,3,4] sum to 8 per element.
func TestUnbroadcast(t *testing.T) {
	g := graph.MustTensor(graph.Float, []int64{2, 3, 4}, make([]float32, 24))
	for i := range g.Data.([]float32) {
		g.Data.([]float32)[i] = 1
	}
	r, err := Unbroadcast(g, []int64{3, 1})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Shape, r.Data) != "[3 1] [8 8 8]" {
		t.Errorf("got %v %v, want [3 1] [8 8 8]", r.Shape, r.Data)
	}
}

// TestStridedIndex checks transposition offsets against a direct loop.
func TestStridedIndex(t *testing.T) {
	shape := []int64{2, 3, 4}
	st := Strides(shape)
	// Transpose to [4, 2, 3] (perm 2, 0, 1).
	got := stridedIndex([]int64{4, 2, 3}, []int{st[2], st[0], st[1]}, 0)
	e := 0
	for k := 0; k < 4; k++ {
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				if want := i*12 + j*4 + k; got[e] != want {
					t.Fatalf("element %d: %d, want %d", e, got[e], want)
				}
				e++
			}
		}
	}
}
