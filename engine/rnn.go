package engine

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// RNN, GRU and LSTM share one driver: inputs X, W, R, B, sequence_lens,
// initial_h (and LSTM's initial_c, P), attributes direction, hidden_size,
// activations with their alpha/beta lists, clip and (opset 14) layout.
// Gates are computed in float64 with direct loops.

// rnnCell is one recurrent cell type: gates per step, default activations
// and the step function. pre holds, per gate, x·Wᵀ + Wb (biases of W),
// and rh the matching h·Rᵀ + Rb, for one batch row; the step updates h
// (and c for LSTM) in place.
type rnnCell struct {
	gates  int
	nacts  int
	defAct []string
	step   func(c *rnnRun, pre, rh []float64, h, cst, p []float64, acts []func(float64) float64, rowR func(gate int, h []float64, out []float64))
}

// rnnRun holds the per-node settings a step needs.
type rnnRun struct {
	hidden      int
	clip        float64
	inputForget bool
	linearReset bool
}

func (c *rnnRun) clipv(v float64) float64 {
	if c.clip > 0 {
		return math.Max(-c.clip, math.Min(c.clip, v))
	}
	return v
}

var rnnCells = map[string]*rnnCell{
	"RNN": {gates: 1, nacts: 1, defAct: []string{"Tanh"}, step: func(c *rnnRun, pre, rh, h, _, _ []float64, a []func(float64) float64, _ func(int, []float64, []float64)) {
		for j := range h {
			h[j] = a[0](c.clipv(pre[j] + rh[j]))
		}
	}},
	"GRU": {gates: 3, nacts: 2, defAct: []string{"Sigmoid", "Tanh"}, step: func(c *rnnRun, pre, rh, h, _, _ []float64, a []func(float64) float64, rowR func(int, []float64, []float64)) {
		n := c.hidden
		z, r := make([]float64, n), make([]float64, n)
		for j := 0; j < n; j++ {
			z[j] = a[0](c.clipv(pre[j] + rh[j]))
			r[j] = a[0](c.clipv(pre[n+j] + rh[n+j]))
		}
		hh := make([]float64, n)
		if c.linearReset {
			for j := 0; j < n; j++ {
				hh[j] = a[1](c.clipv(pre[2*n+j] + r[j]*rh[2*n+j]))
			}
		} else {
			// (r ⊙ h)·Rhᵀ + Rbh: recompute the h gate's recurrence.
			rhv := make([]float64, n)
			for j := range rhv {
				rhv[j] = r[j] * h[j]
			}
			g := make([]float64, n)
			rowR(2, rhv, g)
			for j := 0; j < n; j++ {
				hh[j] = a[1](c.clipv(pre[2*n+j] + g[j]))
			}
		}
		for j := 0; j < n; j++ {
			h[j] = (1-z[j])*hh[j] + z[j]*h[j]
		}
	}},
	"LSTM": {gates: 4, nacts: 3, defAct: []string{"Sigmoid", "Tanh", "Tanh"}, step: func(c *rnnRun, pre, rh, h, cst, p []float64, a []func(float64) float64, _ func(int, []float64, []float64)) {
		n := c.hidden
		for j := 0; j < n; j++ {
			// Gate order i, o, f, c; peepholes P in order i, o, f.
			gi := pre[j] + rh[j]
			go_ := pre[n+j] + rh[n+j]
			gf := pre[2*n+j] + rh[2*n+j]
			gc := pre[3*n+j] + rh[3*n+j]
			if p != nil {
				gi += p[j] * cst[j]
				gf += p[2*n+j] * cst[j]
			}
			i := a[0](c.clipv(gi))
			f := a[0](c.clipv(gf))
			if c.inputForget {
				f = 1 - i
			}
			ct := a[1](c.clipv(gc))
			cst[j] = f*cst[j] + i*ct
			if p != nil {
				go_ += p[n+j] * cst[j]
			}
			o := a[0](c.clipv(go_))
			h[j] = o * a[2](cst[j])
		}
	}},
}

// rnnActivation returns the named activation, consuming alpha/beta values
// it needs from the lists.
func rnnActivation(name string, alpha, beta *[]float32) (func(float64) float64, error) {
	take := func(l *[]float32, def float64) float64 {
		if len(*l) == 0 {
			return def
		}
		v := float64((*l)[0])
		*l = (*l)[1:]
		return v
	}
	switch strings.ToLower(name) {
	case "relu":
		return func(x float64) float64 { return math.Max(x, 0) }, nil
	case "tanh":
		return math.Tanh, nil
	case "sigmoid":
		return sigmoid, nil
	case "softsign":
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil
	case "softplus":
		return softplus, nil
	case "affine":
		a, b := take(alpha, 1), take(beta, 0)
		return func(x float64) float64 { return a*x + b }, nil
	case "leakyrelu":
		a := take(alpha, 0.01)
		return func(x float64) float64 {
			if x >= 0 {
				return x
			}
			return a * x
		}, nil
	case "thresholdedrelu":
		a := take(alpha, 1)
		return func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := take(alpha, 1), take(beta, 1)
		return func(x float64) float64 { return a * math.Tanh(b*x) }, nil
	case "hardsigmoid":
		a, b := take(alpha, 0.2), take(beta, 0.5)
		return func(x float64) float64 { return math.Max(0, math.Min(1, a*x+b)) }, nil
	case "elu":
		a := take(alpha, 1)
		return func(x float64) float64 {
			if x > 0 {
				return x
			}
			return a * math.Expm1(x)
		}, nil
	}
	return nil, fmt.Errorf("activation %q is not supported", name)
}

func rnnKernel(cell *rnnCell) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 3); err != nil {
			return nil, err
		}
		nd := ctx.Node
		layout := nd.AttrInt("layout", 0)
		x := in[0]
		if x.Rank() != 3 {
			return nil, fmt.Errorf("X must be 3-D, has shape %v", x.Shape)
		}
		seq, batch, isz := int(x.Shape[0]), int(x.Shape[1]), int(x.Shape[2])
		if layout == 1 {
			seq, batch = batch, seq
		}
		dirs := 1
		dir := nd.AttrString("direction", "forward")
		switch dir {
		case "forward", "reverse":
		case "bidirectional":
			dirs = 2
		default:
			return nil, fmt.Errorf("direction %q is not forward, reverse or bidirectional", dir)
		}
		hs := int(nd.AttrInt("hidden_size", 0))
		if hs <= 0 && in[2] != nil && in[2].Rank() == 3 {
			hs = int(in[2].Shape[2])
		}
		g := cell.gates
		if !slices.Equal(in[1].Shape, []int64{int64(dirs), int64(g * hs), int64(isz)}) || !slices.Equal(in[2].Shape, []int64{int64(dirs), int64(g * hs), int64(hs)}) {
			return nil, fmt.Errorf("W %v and R %v do not fit %d directions, %d gates, hidden %d, input %d", in[1].Shape, in[2].Shape, dirs, g, hs, isz)
		}
		xv, err := toFloat64s(x)
		if err != nil {
			return nil, err
		}
		w, err := toFloat64s(in[1])
		if err != nil {
			return nil, err
		}
		r, err := toFloat64s(in[2])
		if err != nil {
			return nil, err
		}
		opt := func(i int, n int, what string) ([]float64, error) {
			t := optIn(in, i)
			if t == nil {
				return nil, nil
			}
			if t.Len() != n {
				return nil, fmt.Errorf("%s has %d values, want %d", what, t.Len(), n)
			}
			return toFloat64s(t)
		}
		bias, err := opt(3, dirs*2*g*hs, "B")
		if err != nil {
			return nil, err
		}
		var lens []int64
		if t := optIn(in, 4); t != nil {
			if lens, err = TensorInts(t, "sequence_lens"); err != nil {
				return nil, err
			}
			if len(lens) != batch {
				return nil, fmt.Errorf("sequence_lens has %d values for batch %d", len(lens), batch)
			}
		}
		h0, err := opt(5, dirs*batch*hs, "initial_h")
		if err != nil {
			return nil, err
		}
		var c0, peep []float64
		if cell.gates == 4 {
			if c0, err = opt(6, dirs*batch*hs, "initial_c"); err != nil {
				return nil, err
			}
			if peep, err = opt(7, dirs*3*hs, "P"); err != nil {
				return nil, err
			}
		}
		names := nd.AttrStrings("activations", nil)
		alpha, beta := nd.AttrFloats("activation_alpha", nil), nd.AttrFloats("activation_beta", nil)
		alpha, beta = append([]float32{}, alpha...), append([]float32{}, beta...)
		run := &rnnRun{hidden: hs, clip: float64(nd.AttrFloat("clip", 0)),
			inputForget: nd.AttrInt("input_forget", 0) != 0, linearReset: nd.AttrInt("linear_before_reset", 0) != 0}
		// stateIdx maps (dir, batch) to the offset of its state in the
		// [dirs, batch, hidden] layout (layout 1: [batch, dirs, hidden]).
		stateIdx := func(d, b int) int {
			if layout == 1 {
				return (b*dirs + d) * hs
			}
			return (d*batch + b) * hs
		}
		yv := make([]float64, seq*dirs*batch*hs)
		yh := make([]float64, dirs*batch*hs)
		yc := make([]float64, dirs*batch*hs)
		for d := 0; d < dirs; d++ {
			acts := make([]func(float64) float64, cell.nacts)
			for k := range acts {
				name := cell.defAct[k]
				if names != nil {
					if d*cell.nacts+k >= len(names) {
						return nil, fmt.Errorf("activations %v has too few entries for %d directions", names, dirs)
					}
					name = names[d*cell.nacts+k]
				}
				if acts[k], err = rnnActivation(name, &alpha, &beta); err != nil {
					return nil, err
				}
			}
			wd := w[d*g*hs*isz:][:g*hs*isz]
			rd := r[d*g*hs*hs:][:g*hs*hs]
			var wb, rb, pd []float64
			if bias != nil {
				wb = bias[d*2*g*hs:][:g*hs]
				rb = bias[d*2*g*hs+g*hs:][:g*hs]
			}
			if peep != nil {
				pd = peep[d*3*hs:][:3*hs]
			}
			reverse := dir == "reverse" || d == 1
			for b := 0; b < batch; b++ {
				h := make([]float64, hs)
				cst := make([]float64, hs)
				si := stateIdx(d, b)
				if h0 != nil {
					copy(h, h0[si:si+hs])
				}
				if c0 != nil {
					copy(cst, c0[si:si+hs])
				}
				steps := seq
				if lens != nil {
					steps = int(lens[b])
					if steps < 0 || steps > seq {
						return nil, fmt.Errorf("sequence length %d is out of range for %d steps", steps, seq)
					}
				}
				rowR := func(gate int, hv []float64, outv []float64) {
					for j := 0; j < hs; j++ {
						s := 0.0
						if rb != nil {
							s = rb[gate*hs+j]
						}
						row := rd[(gate*hs+j)*hs:][:hs]
						for k, v := range hv {
							s += row[k] * v
						}
						outv[j] = s
					}
				}
				pre := make([]float64, g*hs)
				rh := make([]float64, g*hs)
				for s := 0; s < steps; s++ {
					t := s
					if reverse {
						t = steps - 1 - s
					}
					xoff := (t*batch + b) * isz
					if layout == 1 {
						xoff = (b*seq + t) * isz
					}
					xt := xv[xoff : xoff+isz]
					for q := 0; q < g*hs; q++ {
						v := 0.0
						if wb != nil {
							v = wb[q]
						}
						row := wd[q*isz:][:isz]
						for k, xk := range xt {
							v += row[k] * xk
						}
						pre[q] = v
					}
					for gate := 0; gate < g; gate++ {
						rowR(gate, h, rh[gate*hs:(gate+1)*hs])
					}
					cell.step(run, pre, rh, h, cst, pd, acts, rowR)
					yoff := ((t*dirs+d)*batch + b) * hs
					if layout == 1 {
						yoff = ((b*seq+t)*dirs + d) * hs
					}
					copy(yv[yoff:yoff+hs], h)
				}
				copy(yh[si:si+hs], h)
				copy(yc[si:si+hs], cst)
			}
		}
		yshape := []int64{int64(seq), int64(dirs), int64(batch), int64(hs)}
		hshape := []int64{int64(dirs), int64(batch), int64(hs)}
		if layout == 1 {
			yshape = []int64{int64(batch), int64(seq), int64(dirs), int64(hs)}
			hshape = []int64{int64(batch), int64(dirs), int64(hs)}
		}
		outs := []*graph.Tensor{}
		for i, v := range [][]float64{yv, yh, yc}[:len(nd.Outputs)] {
			shape := hshape
			if i == 0 {
				shape = yshape
			}
			t, err := castFloats(v, shape, x.DType, true)
			if err != nil {
				return nil, err
			}
			outs = append(outs, t)
		}
		return outs, nil
	}
}

func checkRNN(n *graph.Node) error {
	if n.AttrInt("layout", 0) > 1 {
		return fmt.Errorf("layout %d must be 0 or 1", n.AttrInt("layout", 0))
	}
	for _, a := range n.AttrStrings("activations", nil) {
		if _, err := rnnActivation(a, &[]float32{}, &[]float32{}); err != nil {
			return err
		}
	}
	return nil
}

func init() {
	for name, cell := range rnnCells {
		// Opset 14 adds layout; earlier versions have the same semantics
		// with layout 0 (opset 1's output_sequence attribute aside).
		Register(&Op{Type: name, MinOpset: 7, Forward: rnnKernel(cell), Check: checkRNN})
	}
}
