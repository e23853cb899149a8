package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

func vec(v ...float32) *graph.Tensor {
	return graph.MustTensor(graph.Float, []int64{int64(len(v))}, v)
}

// TestSQNR checks the pooled SQNR against a hand computation: signal
// 1+4+9+16 = 30, noise 0.1^2 + 0.2^2 = 0.05, so 10 log10(600) dB.
func TestSQNR(t *testing.T) {
	ref := []outputs{{"y": vec(1, 2)}, {"y": vec(3, 4)}}
	got := []outputs{{"y": vec(1.1, 2)}, {"y": vec(3, 3.8)}}
	s, err := sqnrDB(ref, got)
	if err != nil {
		t.Fatal(err)
	}
	// float32 inputs: 1.1 and 3.8 carry ~1e-7 relative rounding error,
	// which moves the noise power by ~1e-6 relative, far below 1e-4 dB.
	if want := 10 * math.Log10(600); math.Abs(s["y"]-want) > 1e-4 {
		t.Errorf("SQNR %.6f dB, want %.6f", s["y"], want)
	}
	same, err := sqnrDB(ref, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(same["y"], 1) {
		t.Errorf("identical outputs: SQNR %v, want +Inf", same["y"])
	}
	if _, err := sqnrDB(ref, []outputs{{"y": vec(1, 2)}, {"z": vec(3, 4)}}); err == nil {
		t.Error("a missing output was accepted")
	}
}

// TestMapIoU checks thresholding, pooling over samples and the output
// filter.
func TestMapIoU(t *testing.T) {
	ref := []outputs{{"p": vec(0.9, 0.8, 0.1), "q": vec(5)}, {"p": vec(0.4, 0.2, 0.0), "q": vec(5)}}
	got := []outputs{{"p": vec(0.9, 0.1, 0.5), "q": vec(-5)}, {"p": vec(0.35, 0.2, 0.0), "q": vec(5)}}
	// p > 0.3: ref {0, 1, 3}, got {0, 2, 3}: intersection 2, union 4.
	a, err := mapIoU(ref, got, []string{"p"}, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if a.IoU != 0.5 || a.NRef != 3 || a.NGot != 3 {
		t.Errorf("got %+v, want IoU 0.5 with 3 and 3 positives", a)
	}
	// All outputs: q adds 2 reference positives, one of them matched.
	a, err = mapIoU(ref, got, nil, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3.0 / 6; a.IoU != want {
		t.Errorf("IoU over all outputs %v, want %v", a.IoU, want)
	}
	empty, err := mapIoU([]outputs{{"p": vec(0)}}, []outputs{{"p": vec(0)}}, nil, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if empty.IoU != 1 {
		t.Errorf("no positives on either side: IoU %v, want 1", empty.IoU)
	}
}

func TestTopOne(t *testing.T) {
	got := []outputs{{"l": vec(0, 3, 1)}, {"l": vec(2, 1, 0)}, {"l": vec(0, 0, 9)}, {"l": vec(1, 0, 0)}}
	acc, err := topOne(got, []int64{1, 0, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	if acc != 0.75 {
		t.Errorf("top-1 %v, want 0.75", acc)
	}
	if _, err := topOne(got, []int64{1}); err == nil {
		t.Error("a label count mismatch was accepted")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

// TestNumJSON checks that non-finite figures survive a JSON round trip.
func TestNumJSON(t *testing.T) {
	in := []num{1.5, num(math.Inf(1)), num(math.Inf(-1)), num(math.NaN())}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[1.5,"+Inf","-Inf",null]` {
		t.Errorf("JSON %s", b)
	}
	var out []num
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out[0] != 1.5 || !math.IsInf(float64(out[1]), 1) || !math.IsInf(float64(out[2]), -1) || !math.IsNaN(float64(out[3])) {
		t.Errorf("round trip gave %v", out)
	}
}

// TestInputNoise checks that the noise of the reference row stays within
// +-0.5 grey levels of each channel (0.5 * Scale / Std[c]) in both layouts,
// and that it is not zero.
func TestInputNoise(t *testing.T) {
	for _, name := range []string{"blazeface-front", "ppocr-det"} {
		pre := dataset.ImagePresets[name]
		shape := []int64{1, 3, 4, 5}
		if pre.Layout == dataset.NHWC {
			shape = []int64{1, 4, 5, 3}
		}
		x := graph.Zeros(graph.Float, shape)
		y, err := withInputNoise(x, pre, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := y.Float32s()
		var any bool
		for i, e := range v {
			c := (i / 20) % 3
			if pre.Layout == dataset.NHWC {
				c = i % 3
			}
			bound := 0.5 * float64(pre.Scale) / float64(pre.Std[c])
			if math.Abs(float64(e)) > bound*(1+1e-6) {
				t.Errorf("%s: element %d (channel %d) = %g, beyond +-%g", name, i, c, e, bound)
			}
			any = any || e != 0
		}
		if !any {
			t.Errorf("%s: no noise added", name)
		}
	}
}

// TestMaxSigmoidDiff: logits 0 and ln 3 are probabilities 0.5 and 0.75.
func TestMaxSigmoidDiff(t *testing.T) {
	ref := []outputs{{"s": vec(0, -9), "b": vec(100)}}
	got := []outputs{{"s": vec(float32(math.Log(3)), -9), "b": vec(-100)}}
	d, err := maxSigmoidDiff(ref, got, []string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	// float32(ln 3) is within 6e-8 of ln 3; sigmoid's slope is <= 1/4.
	if math.Abs(d-0.25) > 1e-7 {
		t.Errorf("max |Δp| = %v, want 0.25 (the box output b must not count)", d)
	}
}
