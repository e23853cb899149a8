package qat

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// fqCase is one FakeQuant configuration.
type fqCase struct {
	name  string
	shape []int64
	scale *graph.Tensor
	zp    *graph.Tensor
	attrs map[string]any
}

func fqCases() []fqCase {
	return []fqCase{
		{"per-tensor-uint8", []int64{2, 3, 4}, graph.Scalar(0.1), graph.MustTensor(graph.Uint8, nil, []uint8{100}), nil},
		{"per-tensor-int8", []int64{5, 7}, graph.Scalar(0.05), graph.MustTensor(graph.Int8, nil, []int8{-3}), nil},
		{"per-channel-int8-axis0", []int64{3, 2, 2, 2}, graph.MustTensor(graph.Float, []int64{3}, []float32{0.02, 0.05, 0.1}), graph.MustTensor(graph.Int8, []int64{3}, []int8{0, 0, 0}), map[string]any{"axis": int64(0)}},
		{"per-channel-int4-axis1", []int64{4, 3}, graph.MustTensor(graph.Float, []int64{3}, []float32{0.1, 0.2, 0.3}), graph.MustTensor(graph.Int4, []int64{3}, []int8{0, 1, -1}), map[string]any{"axis": int64(1)}},
		{"per-tensor-uint4", []int64{6, 5}, graph.Scalar(0.25), graph.MustTensor(graph.Uint4, nil, []uint8{3}), nil},
		{"per-tensor-int16", []int64{10}, graph.Scalar(0.001), graph.MustTensor(graph.Int16, nil, []int16{7}), nil},
		{"blocked-int4", []int64{2, 8}, graph.MustTensor(graph.Float, []int64{2, 2}, []float32{0.1, 0.2, 0.15, 0.05}), graph.MustTensor(graph.Int4, []int64{2, 2}, []int8{0, 0, 1, -1}), map[string]any{"axis": int64(1), "block_size": int64(4)}},
		{"uint8-at-5-bits", []int64{4, 4}, graph.Scalar(0.1), graph.MustTensor(graph.Uint8, nil, []uint8{3}), map[string]any{"bits": int64(5)}},
		{"int8-at-6-bits", []int64{4, 4}, graph.Scalar(0.1), graph.MustTensor(graph.Int8, nil, []int8{0}), map[string]any{"bits": int64(6)}},
	}
}

func fqNode(c fqCase) *graph.Node {
	n := &graph.Node{Name: c.name, OpType: FakeQuantOp, Domain: Domain}
	for k, v := range c.attrs {
		n.SetAttr(k, v)
	}
	return n
}

// fqInput draws x spread over the quantizer's range and beyond, with some
// exact ties (x/s = k + 0.5) to exercise round half to even.
func fqInput(r *rand.Rand, c fqCase, n *graph.Node) *graph.Tensor {
	size := int64(1)
	for _, d := range c.shape {
		size *= d
	}
	x := graph.Zeros(graph.Float, c.shape)
	l, err := layoutOf(n, x, c.scale)
	if err != nil {
		panic(err)
	}
	s, z, qmin, qmax, err := fqParams(n, c.scale, c.zp)
	if err != nil {
		panic(err)
	}
	data := x.Data.([]float32)
	for i := range data {
		k := l.index(i)
		lo := float64(qmin-z[k]) * float64(s[k])
		hi := float64(qmax-z[k]) * float64(s[k])
		if i%5 == 0 {
			// a tie inside the range
			q := float64(qmin-z[k]) + float64(r.IntN(int(qmax-qmin)))
			data[i] = float32((q + 0.5) * float64(s[k]))
			continue
		}
		data[i] = float32(lo + (hi-lo)*(1.3*r.Float64()-0.15))
	}
	return x
}

// TestFakeQuantIsQDQ checks that the forward pass is exactly ONNX
// QuantizeLinear followed by DequantizeLinear, as the engine's opset-21
// kernels compute them (for bits < the type's width: against Q -> DQ
// after clipping x to the narrow range, which is what ToQDQ writes).
func TestFakeQuantIsQDQ(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range fqCases() {
		t.Run(c.name, func(t *testing.T) {
			n := fqNode(c)
			x := fqInput(r, c, n)
			got, err := fakeQuantForward(&engine.Context{Node: n}, []*graph.Tensor{x, c.scale, c.zp})
			if err != nil {
				t.Fatal(err)
			}
			xin := x
			if bits, ok := c.attrs["bits"]; ok {
				lo, hi, err := clipBounds(c.scale, c.zp, int(bits.(int64)))
				if err != nil {
					t.Fatal(err)
				}
				xs, _ := x.Float32s()
				lo32, hi32 := lo.Data.([]float32)[0], hi.Data.([]float32)[0]
				clipped := make([]float32, len(xs))
				for i, v := range xs {
					clipped[i] = min(max(v, lo32), hi32)
				}
				xin = graph.MustTensor(graph.Float, x.Shape, clipped)
			}
			want := runQDQ(t, c, xin)
			g, _ := got[0].Float32s()
			for i := range g {
				if math.Float32bits(g[i]) != math.Float32bits(want[i]) {
					t.Fatalf("element %d (x = %g): FakeQuant %g, Q -> DQ %g", i, x.Data.([]float32)[i], g[i], want[i])
				}
			}
		})
	}
}

// runQDQ runs QuantizeLinear -> DequantizeLinear in the engine.
func runQDQ(t *testing.T, c fqCase, x *graph.Tensor) []float32 {
	t.Helper()
	b := graph.NewBuilder(21)
	in := b.Input("x", graph.Float, c.shape...)
	s := b.Const("s", c.scale)
	z := b.Const("z", c.zp)
	attrs := map[string]any{}
	for _, a := range []string{"axis", "block_size"} {
		if v, ok := c.attrs[a]; ok {
			attrs[a] = v
		}
	}
	q := b.Op("QuantizeLinear", []*graph.Value{in, s, z}, attrs)
	b.Output(b.Op("DequantizeLinear", []*graph.Value{q, s, z}, attrs))
	prog, err := engine.Compile(b.Model())
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run(map[string]*graph.Tensor{"x": x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := out[b.Model().Graph.Outputs[0].Name].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fqEval runs the forward pass on float64 values (rounded to float32).
func fqEval(t *testing.T, n *graph.Node, c fqCase, x []float64, scale []float64) []float64 {
	t.Helper()
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	s32 := make([]float32, len(scale))
	for i, v := range scale {
		s32[i] = float32(v)
	}
	out, err := fakeQuantForward(&engine.Context{Node: n}, []*graph.Tensor{graph.MustTensor(graph.Float, c.shape, x32), graph.MustTensor(graph.Float, c.scale.Shape, s32), c.zp})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := out[0].Float32s()
	res := make([]float64, len(f))
	for i, v := range f {
		res[i] = float64(v)
	}
	return res
}

// TestFakeQuantGradX checks the gradient with respect to x by central
// finite differences. FakeQuant is a staircase, so what a finite
// difference can check depends on its step h:
//
//   - h far below the quantization step, away from rounding boundaries:
//     the true derivative is 0 everywhere. The straight-through estimator
//     is not the derivative of the staircase, and the test shows it (the
//     difference quotient is exactly 0 where the STE passes the gradient).
//   - the STE is the exact derivative of the surrogate clamp(x, lo, hi),
//     lo = (qmin - z) s, hi = (qmax - z) s: the backward pass must equal
//     the difference quotient of the clamp (1 inside, 0 outside: the
//     clipping mask), away from the two edges.
//   - h spanning many steps (16 s): the staircase's average slope. Inside
//     the range the quotient is 1 +- 1/32 (each end is off by at most half
//     a step), outside it is 0: the STE is the slope of the quantizer seen
//     at scales larger than its step.
func TestFakeQuantGradX(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range fqCases() {
		t.Run(c.name, func(t *testing.T) {
			n := fqNode(c)
			x := fqInput(r, c, n)
			xs, _ := x.Float32s()
			l, _ := layoutOf(n, x, c.scale)
			s, z, qmin, qmax, _ := fqParams(n, c.scale, c.zp)
			dout := make([]float32, len(xs))
			for i := range dout {
				dout[i] = float32(r.NormFloat64())
			}
			g, err := fakeQuantBackward(&engine.Context{Node: n}, []*graph.Tensor{x, c.scale, c.zp}, nil, []*graph.Tensor{graph.MustTensor(graph.Float, c.shape, dout)})
			if err != nil {
				t.Fatal(err)
			}
			dx, _ := g[0].Float32s()
			if g[1] != nil {
				t.Errorf("without lsq the scale gets a gradient")
			}
			scale64 := make([]float64, len(s))
			for k := range s {
				scale64[k] = float64(s[k])
			}
			base := make([]float64, len(xs))
			for i, v := range xs {
				base[i] = float64(v)
			}
			checked := map[string]int{}
			for i := range xs {
				k := l.index(i)
				step := float64(s[k])
				lo, hi := float64(qmin-z[k])*step, float64(qmax-z[k])*step
				v := base[i]
				inside := v >= lo+0.5*step && v <= hi-0.5*step
				outside := v < lo-0.5*step || v > hi+0.5*step
				if !inside && !outside {
					continue // within half a step of an edge
				}
				// STE against the clamp's quotient.
				want := 0.0
				if inside {
					want = float64(dout[i])
				}
				if math.Abs(float64(dx[i])-want) > 1e-7 {
					t.Fatalf("element %d (x = %g, range [%g, %g]): dx = %g, want %g", i, v, lo, hi, dx[i], want)
				}
				// Fine quotient: 0 away from rounding boundaries.
				u := v/step - math.Floor(v/step)
				// h: well below the step, and at least a few float32 ulps
				// of x so that x +- h are distinct float32 values.
				if h := math.Max(1e-4*step, 8*ulp32(v)); math.Abs(u-0.5) > 0.01+h/step {
					if d := quotient(t, n, c, base, scale64, i, h, false); d != 0 {
						t.Fatalf("element %d: the staircase's difference quotient at h = %g is %g, want 0", i, h, d)
					}
					checked["fine"]++
				}
				// Coarse quotient over 16 steps, where x +- h stays on one
				// side of both edges.
				h := 16 * step
				if (inside && v-h >= lo && v+h <= hi) || (outside && (v+h < lo || v-h > hi)) {
					d := quotient(t, n, c, base, scale64, i, h, false)
					want := 0.0
					if inside {
						want = 1
					}
					if math.Abs(d-want) > 1.0/32+1e-6 {
						t.Fatalf("element %d (x = %g): quotient over 16 steps %g, want %g +- 1/32", i, v, d, want)
					}
					checked["coarse"]++
				}
				if inside {
					checked["inside"]++
				} else {
					checked["clipped"]++
				}
			}
			if checked["inside"] == 0 || checked["clipped"] == 0 || checked["fine"] == 0 {
				t.Fatalf("the draw did not cover every check: %v", checked)
			}
			t.Logf("checked %v", checked)
		})
	}
}

// quotient is the central difference of element i of the forward pass
// with respect to x_i (or to its scale when wrtScale).
func quotient(t *testing.T, n *graph.Node, c fqCase, x, scale []float64, i int, h float64, wrtScale bool) float64 {
	t.Helper()
	plus := append([]float64{}, x...)
	minus := append([]float64{}, x...)
	sp := append([]float64{}, scale...)
	sm := append([]float64{}, scale...)
	l, _ := layoutOf(n, graph.Zeros(graph.Float, c.shape), c.scale)
	if wrtScale {
		k := l.index(i)
		sp[k] += h
		sm[k] -= h
	} else {
		plus[i] += h
		minus[i] -= h
	}
	// Difference the float32 operands actually used.
	var dh float64
	if wrtScale {
		k := l.index(i)
		dh = float64(float32(sp[k])) - float64(float32(sm[k]))
	} else {
		dh = float64(float32(plus[i])) - float64(float32(minus[i]))
	}
	fp := fqEval(t, n, c, plus, sp)
	fm := fqEval(t, n, c, minus, sm)
	return (fp[i] - fm[i]) / dh
}

// TestLSQGradient checks the learned-step-size gradient of the scale.
// Esser et al. define x_hat(s) = s * clamp(round(x/s), qmin - z, qmax - z)
// and differentiate it with the straight-through estimator d round(u)/du
// = 1, which gives, per element,
//
//	d x_hat / d s = round(x/s) - x/s   inside the range
//	              = qmin - z or qmax - z where clipped,
//
// summed over the elements that share a scale (weighted by the incoming
// gradient) and multiplied by 1/sqrt(N * qmax), N the elements per scale.
// A finite difference in s measures the derivative of the staircase with
// the integer held fixed, q = round(x/s) - ... i.e. the first term only:
// where clipped that is the whole LSQ gradient, and the test checks it
// exactly; inside, the -x/s term comes from the STE alone (the true
// derivative of round is 0), so the check is that LSQ = quotient - x/s.
// What no finite difference can test is whether the STE term is a good
// direction to move s in; that is LSQ's empirical claim.
func TestLSQGradient(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range fqCases() {
		if c.attrs["block_size"] != nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			attrs := map[string]any{"lsq": int64(1)}
			for k, v := range c.attrs {
				attrs[k] = v
			}
			c.attrs = attrs
			n := fqNode(c)
			x := fqInput(r, c, n)
			xs, _ := x.Float32s()
			l, _ := layoutOf(n, x, c.scale)
			s, z, qmin, qmax, _ := fqParams(n, c.scale, c.zp)
			dout := make([]float32, len(xs))
			for i := range dout {
				dout[i] = float32(r.NormFloat64())
			}
			g, err := fakeQuantBackward(&engine.Context{Node: n}, []*graph.Tensor{x, c.scale, c.zp}, nil, []*graph.Tensor{graph.MustTensor(graph.Float, c.shape, dout)})
			if err != nil {
				t.Fatal(err)
			}
			ds, _ := g[1].Float32s()
			base := make([]float64, len(xs))
			for i, v := range xs {
				base[i] = float64(v)
			}
			scale64 := make([]float64, len(s))
			for k := range s {
				scale64[k] = float64(s[k])
			}
			// The definition, element by element, from finite differences
			// plus the STE term.
			want := make([]float64, len(s))
			checked := 0
			for i := range xs {
				k := l.index(i)
				u := base[i] / scale64[k]
				var e float64
				switch {
				case math.RoundToEven(u)+float64(z[k]) < float64(qmin):
					e = float64(qmin - z[k])
				case math.RoundToEven(u)+float64(z[k]) > float64(qmax):
					e = float64(qmax - z[k])
				default:
					e = math.RoundToEven(float64(xs[i]/s[k])) - float64(xs[i]/s[k])
				}
				// Where x/(s +- h) stays on one side of every rounding
				// boundary (u moves by at most 0.2), the quotient is the
				// integer: LSQ's part without the STE term.
				h := scale64[k] * math.Min(1e-3, 0.2/math.Max(1, math.Abs(u)))
				up, um := base[i]/(scale64[k]+h), base[i]/(scale64[k]-h)
				if math.Floor(up+0.5) == math.Floor(um+0.5) && math.Abs(u-math.Floor(u)-0.5) > 0.25 {
					d := quotient(t, n, c, base, scale64, i, h, true)
					fixed := e
					if math.RoundToEven(u)+float64(z[k]) >= float64(qmin) && math.RoundToEven(u)+float64(z[k]) <= float64(qmax) {
						fixed = e + float64(xs[i]/s[k]) // add back -(-x/s)
					}
					// The forward pass rounds x_hat to float32: each end of
					// the difference is off by half an ulp.
					tol := ulp32(fixed*scale64[k])/(2*h) + 1e-9
					if math.Abs(d-fixed) > tol {
						t.Fatalf("element %d (x = %g, s = %g): d x_hat/d s by finite difference %g, LSQ's fixed part %g (tolerance %g)", i, xs[i], s[k], d, fixed, tol)
					}
					checked++
				}
				want[k] += e * float64(dout[i])
			}
			if checked < len(xs)/4 {
				t.Fatalf("only %d of %d elements were checked by finite differences", checked, len(xs))
			}
			gscale := 1 / math.Sqrt(float64(l.countPer(len(xs)))*float64(qmax))
			for k := range want {
				w := want[k] * gscale
				if math.Abs(float64(ds[k])-w) > 1e-5*math.Max(1, math.Abs(w)) {
					t.Errorf("scale %d: LSQ gradient %g, definition %g", k, ds[k], w)
				}
			}
		})
	}
}

// TestFakeQuantChecks covers the attribute and input errors.
func TestFakeQuantChecks(t *testing.T) {
	for _, c := range []struct {
		attrs map[string]any
		in    int
		want  string
	}{
		{nil, 2, "needs x, scale and zero_point"},
		{map[string]any{"bits": int64(1)}, 3, "bits 1 out of range"},
		{map[string]any{"bits": int64(17)}, 3, "bits 17 out of range"},
	} {
		n := &graph.Node{OpType: FakeQuantOp, Domain: Domain, Inputs: make([]*graph.Value, c.in)}
		for i := range n.Inputs {
			n.Inputs[i] = &graph.Value{Name: fmt.Sprint("v", i)}
		}
		for k, v := range c.attrs {
			n.SetAttr(k, v)
		}
		err := checkFakeQuant(n)
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("attrs %v, %d inputs: error %v, want %q", c.attrs, c.in, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// ulp32 is the spacing of float32 values near x.
func ulp32(x float64) float64 {
	f := float32(math.Abs(x))
	return float64(math.Nextafter32(f, float32(math.Inf(1))) - f)
}
