package tune

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/onnxq/onnxq/graph"
)

func f32(v ...float32) *graph.Tensor { return graph.MustTensor(graph.Float, []int64{int64(len(v))}, v) }

func TestErrorFigures(t *testing.T) {
	var e Error
	if err := e.Add(f32(1, 2, 3), f32(1, 2, 4)); err != nil {
		t.Fatal(err)
	}
	// signal 1+4+16 = 21, noise 1: 10 log10(21).
	st := e.Stats()
	if d := float64(st.SQNR) - 10*math.Log10(21); math.Abs(d) > 1e-12 {
		t.Errorf("SQNR %v, want 10 log10(21)", st.SQNR)
	}
	if st.MaxAbs != 1 || math.Abs(float64(st.MeanAbs)-1.0/3) > 1e-15 || st.Count != 3 {
		t.Errorf("figures %+v", st)
	}
	// A second, exact sample adds signal but no noise: (21+4)/1.
	if err := e.Add(f32(0, 2), f32(0, 2)); err != nil {
		t.Fatal(err)
	}
	if d := e.SQNR() - 10*math.Log10(25); math.Abs(d) > 1e-12 {
		t.Errorf("SQNR over two samples %v, want 10 log10(25)", e.SQNR())
	}
	if math.Abs(e.NoiseRatio()-1.0/25) > 1e-15 {
		t.Errorf("noise ratio %v", e.NoiseRatio())
	}
	var same Error
	same.Add(f32(1, 2), f32(1, 2))
	if !math.IsInf(same.SQNR(), 1) || same.NoiseRatio() != 0 {
		t.Errorf("identical tensors: SQNR %v", same.SQNR())
	}
	var zero Error
	zero.Add(f32(1), f32(0))
	if !math.IsInf(zero.SQNR(), -1) {
		t.Errorf("against zeros: SQNR %v, want -inf", zero.SQNR())
	}
	if err := e.Add(f32(1, 2), f32(1)); err == nil {
		t.Error("tensors of different shapes were compared")
	}
}

func TestNumJSON(t *testing.T) {
	in := []Num{Num(math.Inf(1)), Num(math.Inf(-1)), 1.5, 0}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["inf","-inf",1.5,0]` {
		t.Errorf("encoded %s", b)
	}
	var out []Num
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("%d: %v came back as %v", i, in[i], out[i])
		}
	}
	nan, _ := json.Marshal(Num(math.NaN()))
	if string(nan) != `"nan"` {
		t.Errorf("NaN encoded as %s", nan)
	}
	var bad Num
	if err := json.Unmarshal([]byte(`"lots"`), &bad); err == nil {
		t.Error(`"lots" decoded as a number`)
	}
}

func TestParsePrecisions(t *testing.T) {
	got, err := ParsePrecisions(" int8, INT4 ")
	if err != nil || len(got) != 3 || got[0] != Int4 || got[1] != Int8 || got[2] != Float {
		t.Errorf("got %v, %v; want cheapest first with float added", got, err)
	}
	for _, bad := range []string{"int3", "float", ""} {
		if _, err := ParsePrecisions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s := (Setting{4, 16}).String(); s != "w4a16" {
		t.Errorf("setting w4a16 named %q", s)
	}
	if d := DescribeSettings(map[string]Setting{"a": Float.Setting(), "b": Int4.Setting(), "c": Int4.Setting(), "d": {4, 16}}); d != "2 int4, 1 w4a16, 1 float" {
		t.Errorf("described as %q", d)
	}
}
