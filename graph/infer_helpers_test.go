package graph

import (
	"strings"
	"testing"
)

// inferCase is one hand-built graph: build returns the values whose
// inferred types are checked against want ("FLOAT[1,8,14,14]"; "?" for an
// unknown dim, a name for a symbolic one, "[?]" for an unknown rank).
type inferCase struct {
	name  string
	opset int64
	build func(b *Builder) []*Value
	want  []string
}

func runInferCases(t *testing.T, cases []inferCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(tc.opset)
			vs := tc.build(b)
			if err := InferShapes(b.Model()); err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(tc.want) {
				t.Fatalf("%d values for %d expectations", len(vs), len(tc.want))
			}
			for i, v := range vs {
				got, ok := typeInfoOf(v)
				s := got.String()
				if !ok {
					s = "<none>"
				}
				if s != tc.want[i] {
					t.Errorf("value %d (%s): inferred %s, want %s", i, v.Name, s, tc.want[i])
				}
			}
		})
	}
}

// errCase is a graph whose inputs contradict an op: InferShapes must fail
// with an error that names the node and contains each of want.
type errCase struct {
	name  string
	opset int64
	build func(b *Builder)
	want  []string
}

func runInferErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder(tc.opset)
			tc.build(b)
			err := InferShapes(b.Model())
			if err == nil {
				t.Fatal("InferShapes accepted the graph")
			}
			for _, w := range append([]string{"node "}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// symIn adds a graph input whose dims are ints (sizes, -1 unknown) or
// strings (symbolic names).
func symIn(b *Builder, name string, dt DType, dims ...any) *Value {
	ds := make([]symDim, len(dims))
	for i, d := range dims {
		switch d := d.(type) {
		case int:
			if d >= 0 {
				ds[i] = knownDim(int64(d))
			}
		case string:
			ds[i] = symDim{sym: d}
		}
	}
	v := b.Input(name, dt)
	v.Type = tensorTypeSym(ranked(dt, ds))
	return v
}

func valueList(vs ...*Value) []*Value { return vs }

func zerosF32(b *Builder, name string, shape ...int64) *Value {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return b.Floats(name, shape, make([]float32, n)...)
}

func i64s(b *Builder, v ...int64) *Value { return b.Int64s("c", []int64{int64(len(v))}, v...) }
