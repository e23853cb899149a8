package graph

import (
	"slices"
	"testing"

	"github.com/onnxq/onnxq/internal/testdata"
)

// TestInferRealModels infers the reference models with every node output's
// type removed first: each node output must get a fully static shape and
// the graph outputs the types the models declare. PP-OCR's input is
// dynamic ([N,3,H,W]); it is fixed to [1,3,640,640] here.
func TestInferRealModels(t *testing.T) {
	cases := []struct {
		model string
		input []int64 // fixed input shape, nil to keep the declared one
		want  [][]int64
	}{
		{"mnist-7", nil, [][]int64{{1, 10}}},
		{"blazeface-front", nil, [][]int64{{1, 512, 1}, {1, 384, 1}, {1, 512, 16}, {1, 384, 16}}},
		{"blazeface-back", nil, [][]int64{{1, 512, 1}, {1, 384, 1}, {1, 512, 16}, {1, 384, 16}}},
		{"ppocr-det", []int64{1, 3, 640, 640}, [][]int64{{1, 1, 640, 640}}},
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			m, err := FromFile(testdata.Path(t, testdata.RealModels[tc.model]))
			if err != nil {
				t.Fatal(err)
			}
			declared := make([]typeInfo, len(m.Graph.Outputs))
			for i, v := range m.Graph.Outputs {
				declared[i], _ = typeInfoOf(v)
			}
			if tc.input != nil {
				in := m.Graph.Inputs[0]
				in.Type = TensorType(in.ElemType(), tc.input)
			}
			clearInferredTypes(m)
			if err := InferShapes(m); err != nil {
				t.Fatal(err)
			}
			nodes, values := 0, 0
			for _, n := range m.Graph.Nodes {
				nodes++
				for _, v := range n.Outputs {
					if v == nil {
						continue
					}
					values++
					if _, ok := StaticShape(v); !ok || v.ElemType() == Undefined {
						got, _ := typeInfoOf(v)
						t.Errorf("node %s output %q: inferred %s, not fully static", n.Label(), v.Name, got)
					}
				}
			}
			for i, v := range m.Graph.Outputs {
				got, _ := StaticShape(v)
				if !slices.Equal(got, tc.want[i]) || v.ElemType() != Float {
					t.Errorf("output %q: inferred %s%v, want FLOAT%v", v.Name, v.ElemType(), got, tc.want[i])
				}
				if _, err := mergeTypes(declared[i], ranked(v.ElemType(), staticDims(got...))); err != nil {
					t.Errorf("output %q: inferred %v contradicts the declared %s: %v", v.Name, got, declared[i], err)
				}
			}
			t.Logf("%s: %d nodes, %d outputs, all static", tc.model, nodes, values)
		})
	}
}

// TestInferRealModelsAsDeclared runs InferShapes on the reference models
// as their files type them (value_info and outputs kept): it must accept
// every declared type.
func TestInferRealModelsAsDeclared(t *testing.T) {
	for name, rel := range testdata.RealModels {
		m, err := FromFile(testdata.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		if err := InferShapes(m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestInferPPOCRSymbolic keeps PP-OCR's dynamic input [N,3,H,W]: the batch
// dim's name must reach the output, whose channel count is static.
func TestInferPPOCRSymbolic(t *testing.T) {
	m, err := FromFile(testdata.Path(t, testdata.RealModels["ppocr-det"]))
	if err != nil {
		t.Fatal(err)
	}
	clearInferredTypes(m)
	if err := InferShapes(m); err != nil {
		t.Fatal(err)
	}
	in, _ := typeInfoOf(m.Graph.Inputs[0])
	out, _ := typeInfoOf(m.Graph.Outputs[0])
	if !out.ranked || len(out.dims) != 4 || out.dims[0] != in.dims[0] || !out.dims[1].is(1) {
		t.Errorf("output inferred as %s from input %s; want [%s,1,?,?]", out, in, in.dims[0])
	}
	t.Logf("input %s -> output %s", in, out)
}
