package onnxio_test

import (
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// TestAllTypesModelLoads checks that the fuzz seed built in code is a valid
// model all the way to the IR, so that mutations of it reach the decoders
// of every element type.
func TestAllTypesModelLoads(t *testing.T) {
	m, err := onnxio.Decode(mustMarshal(t, allTypesModel()))
	if err != nil {
		t.Fatal(err)
	}
	gm, err := graph.FromONNX(m)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"f32_raw":   []float32{1, -2, 3.5, 0},
		"f32_typed": []float32{1, 2, 3},
		"i64":       []int64{-1, 1 << 40},
		"u32":       []uint32{7, 1<<32 - 1},
		"c64":       []complex64{complex(1, -1)},
		"str":       []string{"a", "bc"},
		"f16_raw":   []uint16{0x3c00, 0xc000},
		"u4_raw":    []uint8{1, 2, 0xf},
		"i4_packed": []int8{-1, 7, -8},
		"bool":      []bool{false, true},
		"empty":     []float32{},
	}
	seen := 0
	for _, v := range gm.Graph.Initializers {
		w, ok := want[v.Name]
		if !ok {
			continue
		}
		seen++
		if got := v.Const.Data; !equalAny(got, w) {
			t.Errorf("initializer %s decodes to %v, want %v", v.Name, got, w)
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d initializers checked", seen, len(want))
	}
	if sub := gm.Graph.Nodes[len(gm.Graph.Nodes)-1].Subgraphs["then_branch"]; sub == nil || len(sub.Initializers) != 1 {
		t.Errorf("the If node's then_branch with its initializer did not convert")
	}
}
