package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// BatchNormalization changed meaning across opsets:
//   - 1-8: the spatial attribute (default 1); spatial=0 gives every
//     activation (channel and position) its own statistics. Extra outputs
//     (mean, var, saved_mean, saved_var) only exist in training, which
//     these opsets selected with is_test (1-6) or by the outputs (7-8).
//   - 9-13: spatial removed; the same optional training outputs.
//   - 14+: training_mode selects batch statistics; the outputs are Y,
//     running_mean and running_var.
//
// The engine runs inference (the given mean and variance) for every
// opset, and training mode (batch statistics) for opset 14 and later.
func init() {
	Register(&Op{Type: "BatchNormalization", MinOpset: 1, MaxOpset: 8, Forward: batchNormForward, Backward: batchNormBackward, Check: checkBatchNormOld})
	Register(&Op{Type: "BatchNormalization", MinOpset: 9, MaxOpset: 13, Forward: batchNormForward, Backward: batchNormBackward, Check: checkBatchNormOld})
	Register(&Op{Type: "BatchNormalization", MinOpset: 14, Forward: batchNormForward, Backward: batchNormBackward, Check: checkBatchNorm14})
}

// checkBatchNormOld refuses the training outputs (mean, var, saved_mean,
// saved_var) of opsets before 14.
func checkBatchNormOld(n *graph.Node) error {
	if outputsUsed(n) > 1 {
		return fmt.Errorf("the training outputs of BatchNormalization before opset 14 are not supported (the node has %d outputs; inference has 1)", outputsUsed(n))
	}
	return nil
}

// checkBatchNorm14 accepts Y and, in training mode, the running statistics.
func checkBatchNorm14(n *graph.Node) error {
	if k := outputsUsed(n); k > 1 && n.AttrInt("training_mode", 0) == 0 {
		return fmt.Errorf("outputs running_mean and running_var need training_mode=1")
	}
	return nil
}

// outputsUsed counts a node's outputs that are not omitted.
func outputsUsed(n *graph.Node) int {
	k := 0
	for _, v := range n.Outputs {
		if v != nil && v.Name != "" {
			k++
		}
	}
	return k
}

// bnPlan views X [N, C, D...] as N·C planes of p elements; a parameter
// (scale, B, mean, var) has one value per channel, or with spatial=0 one
// per channel and position.
type bnPlan struct {
	n, c, p  int
	perAct   bool // spatial=0 (opsets before 9)
	training bool // training_mode=1 (opset 14+)
	eps      float64
	momentum float64
}

func newBNPlan(ctx *Context, in []*graph.Tensor) (*bnPlan, error) {
	if len(in) < 5 {
		return nil, fmt.Errorf("BatchNormalization needs inputs X, scale, B, mean and var")
	}
	for i, name := range []string{"X", "scale", "B", "mean", "var"} {
		if in[i] == nil {
			return nil, fmt.Errorf("BatchNormalization input %s is missing", name)
		}
	}
	s := in[0].Shape
	if len(s) < 2 {
		return nil, fmt.Errorf("input X has shape %v: want N×C×...", s)
	}
	n := ctx.Node
	p := &bnPlan{n: int(s[0]), c: int(s[1]), p: volume64(s[2:]), eps: float64(n.AttrFloat("epsilon", 1e-5)), momentum: float64(n.AttrFloat("momentum", 0.9))}
	p.perAct = ctx.Opset < 9 && n.AttrInt("spatial", 1) == 0
	p.training = ctx.Opset >= 14 && n.AttrInt("training_mode", 0) != 0
	want := p.c
	if p.perAct {
		want = p.c * p.p
	}
	for i, name := range []string{"scale", "B", "mean", "var"} {
		if in[i+1].Len() != want {
			return nil, fmt.Errorf("%s has shape %v: want %d elements for X of shape %v", name, in[i+1].Shape, want, s)
		}
	}
	if p.training && p.perAct {
		return nil, fmt.Errorf("training mode with spatial=0 is not supported")
	}
	return p, nil
}

// param returns the parameter index of element i of plane (n, c): the
// channel, or with spatial=0 the channel and position.
func (p *bnPlan) param(c, i int) int {
	if p.perAct {
		return c*p.p + i
	}
	return c
}

// batchInputs reads the five inputs as float32.
func batchInputs(in []*graph.Tensor) ([5][]float32, error) {
	var f [5][]float32
	for i, name := range []string{"input X", "scale", "B", "input_mean", "input_var"} {
		v, err := floatIn(in[i], name)
		if err != nil {
			return f, err
		}
		f[i] = v
	}
	return f, nil
}

// batchStats returns the per-channel mean and population variance of X
// over the batch and spatial dims (float64 accumulation).
func (p *bnPlan) batchStats(x []float32) (mean, variance []float32) {
	mean, variance = make([]float32, p.c), make([]float32, p.c)
	cnt := float64(p.n * p.p)
	ParallelFor(p.c, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for n := 0; n < p.n; n++ {
				for _, v := range x[(n*p.c+c)*p.p : (n*p.c+c+1)*p.p] {
					s += float64(v)
				}
			}
			m := s / cnt
			var q float64
			for n := 0; n < p.n; n++ {
				for _, v := range x[(n*p.c+c)*p.p : (n*p.c+c+1)*p.p] {
					q += (float64(v) - m) * (float64(v) - m)
				}
			}
			mean[c], variance[c] = float32(m), float32(q/cnt)
		}
	})
	return mean, variance
}

// batchNormForward computes y = scale·(x - mean)/sqrt(var + epsilon) + B,
// with the given statistics (inference) or the batch's (training mode,
// which also returns the updated running statistics).
func batchNormForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, err := newBNPlan(ctx, in)
	if err != nil {
		return nil, err
	}
	f, err := batchInputs(in)
	if err != nil {
		return nil, err
	}
	x, scale, bias, mean, variance := f[0], f[1], f[2], f[3], f[4]
	if p.training {
		mean, variance = p.batchStats(x)
	}
	// y = x·a + b with a = scale/sqrt(var+eps), b = B - mean·a.
	a, b := make([]float32, len(scale)), make([]float32, len(scale))
	for i := range a {
		a[i] = float32(float64(scale[i]) / math.Sqrt(float64(variance[i])+p.eps))
		b[i] = bias[i] - mean[i]*a[i]
	}
	y := ctx.Float32s(len(x))
	ParallelFor(p.n*p.c, max(1, 4096/max(1, p.p)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c := r % p.c
			out := y[r*p.p : (r+1)*p.p]
			for i, v := range x[r*p.p : (r+1)*p.p] {
				k := p.param(c, i)
				out[i] = v*a[k] + b[k]
			}
		}
	})
	dt := in[0].DType
	outs := []*graph.Tensor{floatOut(dt, in[0].Shape, y)}
	if p.training {
		mom := float32(p.momentum)
		rm, rv := make([]float32, p.c), make([]float32, p.c)
		for c := range rm {
			rm[c] = f[3][c]*mom + mean[c]*(1-mom)
			rv[c] = f[4][c]*mom + variance[c]*(1-mom)
		}
		outs = append(outs, floatOut(in[3].DType, in[3].Shape, rm), floatOut(in[4].DType, in[4].Shape, rv))
	}
	return outs, nil
}

// batchNormBackward is the Gradient of BatchNormalization with respect to
// Y. In inference mode the statistics are inputs: dX = dY·a, dscale =
// Σ dY·xhat, dB = Σ dY, dmean = -Σ dY·a, dvar = -½·Σ dY·scale·(x-mean)·
// (var+eps)^-3/2. In training mode dX goes through the batch statistics
// (the usual batch-norm gradient) and mean/var get none; the running
// statistics outputs are not differentiated.
func batchNormBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	p, err := newBNPlan(ctx, in)
	if err != nil {
		return nil, err
	}
	f, err := batchInputs(in)
	if err != nil {
		return nil, err
	}
	x, scale, mean, variance := f[0], f[1], f[3], f[4]
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != len(x) {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dout[0].Shape, in[0].Shape)
	}
	if p.training {
		mean, variance = p.batchStats(x)
	}
	L := len(scale)
	inv := make([]float64, L)
	for k := range inv {
		inv[k] = 1 / math.Sqrt(float64(variance[k])+p.eps)
	}
	// Per parameter: Σ dY and Σ dY·xhat.
	sdy, sdyx := make([]float64, L), make([]float64, L)
	for r := 0; r < p.n*p.c; r++ {
		c := r % p.c
		xr, gr := x[r*p.p:(r+1)*p.p], dy[r*p.p:(r+1)*p.p]
		for i, g := range gr {
			k := p.param(c, i)
			sdy[k] += float64(g)
			sdyx[k] += float64(g) * (float64(xr[i]) - float64(mean[k])) * inv[k]
		}
	}
	dx := make([]float32, len(x))
	cnt := float64(p.n * p.p)
	for r := 0; r < p.n*p.c; r++ {
		c := r % p.c
		xr, gr, dr := x[r*p.p:(r+1)*p.p], dy[r*p.p:(r+1)*p.p], dx[r*p.p:(r+1)*p.p]
		for i, g := range gr {
			k := p.param(c, i)
			a := float64(scale[k]) * inv[k]
			if p.training {
				xh := (float64(xr[i]) - float64(mean[k])) * inv[k]
				dr[i] = float32(a * (float64(g) - sdy[k]/cnt - xh*sdyx[k]/cnt))
			} else {
				dr[i] = float32(a * float64(g))
			}
		}
	}
	dscale, dbias := make([]float32, L), make([]float32, L)
	for k := range dscale {
		dscale[k], dbias[k] = float32(sdyx[k]), float32(sdy[k])
	}
	grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
	grads[1] = floatOut(in[1].DType, in[1].Shape, dscale)
	grads[2] = floatOut(in[2].DType, in[2].Shape, dbias)
	if !p.training {
		dmean, dvar := make([]float32, L), make([]float32, L)
		for k := range dmean {
			a := float64(scale[k]) * inv[k]
			dmean[k] = float32(-a * sdy[k])
			// Σ dY·scale·(x-mean) = scale·Σ dY·xhat / inv.
			dvar[k] = float32(-0.5 * float64(scale[k]) * sdyx[k] * inv[k] * inv[k])
		}
		grads[3] = floatOut(in[3].DType, in[3].Shape, dmean)
		grads[4] = floatOut(in[4].DType, in[4].Shape, dvar)
	}
	return grads, nil
}
