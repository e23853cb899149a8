package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// nllProblem is a classification loss laid out as N×C×D (classes on axis
// 1, every trailing dim flattened into D) with targets N×D.
type nllProblem struct {
	n, c, d   int
	target    []int64
	weight    []float64 // per class; nil: all 1
	ignore    int64
	hasIgnore bool
	reduction string
}

func newNLLProblem(ctx *Context, x, target, weight *graph.Tensor) (*nllProblem, error) {
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input must have rank 2 or more, has shape %v", x.Shape)
	}
	p := &nllProblem{n: int(x.Shape[0]), c: int(x.Shape[1]), d: ShapeSize(x.Shape[2:])}
	want := append([]int64{x.Shape[0]}, x.Shape[2:]...)
	if !slices.Equal(target.Shape, want) {
		return nil, fmt.Errorf("target of shape %v does not fit input of shape %v", target.Shape, x.Shape)
	}
	var err error
	if p.target, err = TensorInts(target, "target"); err != nil {
		return nil, err
	}
	if weight != nil {
		if weight.Len() != p.c {
			return nil, fmt.Errorf("weight has %d values for %d classes", weight.Len(), p.c)
		}
		if p.weight, err = toFloat64s(weight); err != nil {
			return nil, err
		}
	}
	if a := ctx.Node.Attr("ignore_index"); a != nil {
		p.ignore, p.hasIgnore = a.GetI(), true
	}
	p.reduction = ctx.Node.AttrString("reduction", "mean")
	switch p.reduction {
	case "mean", "sum", "none":
	default:
		return nil, fmt.Errorf("reduction %q must be mean, sum or none", p.reduction)
	}
	for _, t := range p.target {
		if (t < 0 || t >= int64(p.c)) && !(p.hasIgnore && t == p.ignore) {
			return nil, fmt.Errorf("target %d is out of range for %d classes", t, p.c)
		}
	}
	return p, nil
}

// w returns the weight of target element i (0 when ignored).
func (p *nllProblem) w(i int) float64 {
	t := p.target[i]
	if p.hasIgnore && t == p.ignore {
		return 0
	}
	if p.weight == nil {
		return 1
	}
	return p.weight[t]
}

// loss computes -w·logp[target] per element and reduces it as the ONNX
// reference: mean divides by the summed weights when weights or an
// ignore_index are given, by the element count otherwise.
func (p *nllProblem) loss(logp []float64, dt graph.DType, targetShape []int64) (*graph.Tensor, error) {
	l := make([]float64, p.n*p.d)
	var sum, wsum float64
	for i := range l {
		w := p.w(i)
		if w != 0 {
			n, d := i/p.d, i%p.d
			l[i] = -w * logp[(n*p.c+int(p.target[i]))*p.d+d]
		}
		sum += l[i]
		wsum += w
	}
	switch p.reduction {
	case "none":
		return castFloats(l, targetShape, dt, true)
	case "sum":
		return castFloats([]float64{sum}, nil, dt, true)
	}
	return castFloats([]float64{sum / p.meanDenominator(wsum)}, nil, dt, true)
}

func (p *nllProblem) meanDenominator(wsum float64) float64 {
	if p.weight != nil || p.hasIgnore {
		return wsum
	}
	return float64(p.n * p.d)
}

// scale returns the factor d loss / d(-w·logp) of element i given the
// loss gradient g.
func (p *nllProblem) scale(g []float32, i int, wsum float64) float64 {
	switch p.reduction {
	case "none":
		return float64(g[i])
	case "sum":
		return float64(g[0])
	}
	return float64(g[0]) / p.meanDenominator(wsum)
}

func (p *nllProblem) weightSum() float64 {
	var s float64
	for i := range p.target {
		s += p.w(i)
	}
	return s
}

// nllInputs reads the inputs of NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss (scores, target, optional weights): the problem
// and the scores in float64.
func nllInputs(ctx *Context, in []*graph.Tensor) (*nllProblem, []float64, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, nil, err
	}
	p, err := newNLLProblem(ctx, in[0], in[1], optIn(in, 2))
	if err != nil {
		return nil, nil, err
	}
	x, err := toFloat64s(in[0])
	if err != nil {
		return nil, nil, err
	}
	return p, x, nil
}

func nllKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, x, err := nllInputs(ctx, in)
	if err != nil {
		return nil, err
	}
	return oneErr(p.loss(x, in[0].DType, in[1].Shape))
}

// nllGrad: d loss / d input[n, t, d] = -w[t] times the reduction's scale.
func nllGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if dout[0] == nil {
		return grads, nil
	}
	p, err := newNLLProblem(ctx, in[0], in[1], optIn(in, 2))
	if err != nil {
		return nil, err
	}
	g, err := dout[0].Float32s()
	if err != nil {
		return nil, err
	}
	wsum := p.weightSum()
	dx := make([]float32, in[0].Len())
	for i, t := range p.target {
		if w := p.w(i); w != 0 {
			n, d := i/p.d, i%p.d
			dx[(n*p.c+int(t))*p.d+d] = float32(-w * p.scale(g, i, wsum))
		}
	}
	grads[0] = f32out(in[0].Shape, dx)
	return grads, nil
}

// logSoftmaxAxis1 computes log-softmax over axis 1 of an N×C×D layout.
func logSoftmaxAxis1(x []float64, n, c, d int) []float64 {
	lp := make([]float64, len(x))
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			m := math.Inf(-1)
			for j := 0; j < c; j++ {
				m = math.Max(m, x[(i*c+j)*d+k])
			}
			var s float64
			for j := 0; j < c; j++ {
				s += math.Exp(x[(i*c+j)*d+k] - m)
			}
			ls := math.Log(s)
			for j := 0; j < c; j++ {
				lp[(i*c+j)*d+k] = x[(i*c+j)*d+k] - m - ls
			}
		}
	}
	return lp
}

// sceKernel is SoftmaxCrossEntropyLoss: NLL of the log-softmax over the
// class axis, and optionally the log-probabilities.
func sceKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, x, err := nllInputs(ctx, in)
	if err != nil {
		return nil, err
	}
	lp := logSoftmaxAxis1(x, p.n, p.c, p.d)
	l, err := p.loss(lp, in[0].DType, in[1].Shape)
	if err != nil {
		return nil, err
	}
	outs := []*graph.Tensor{l, nil}
	if len(ctx.Node.Outputs) > 1 && ctx.Node.Outputs[1] != nil {
		if outs[1], err = castFloats(lp, in[0].Shape, in[0].DType, true); err != nil {
			return nil, err
		}
	}
	return outs, nil
}

// sceGrad: d loss / d x = scale·w·(softmax(x) - onehot(target)); a
// gradient on the log_prob output adds dlp - softmax·Σ_c dlp.
func sceGrad(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	p, err := newNLLProblem(ctx, in[0], in[1], optIn(in, 2))
	if err != nil {
		return nil, err
	}
	x, err := toFloat64s(in[0])
	if err != nil {
		return nil, err
	}
	lp := logSoftmaxAxis1(x, p.n, p.c, p.d)
	dx := make([]float64, len(x))
	if dout[0] != nil {
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		wsum := p.weightSum()
		for i, t := range p.target {
			w := p.w(i)
			if w == 0 {
				continue
			}
			n, d := i/p.d, i%p.d
			s := w * p.scale(g, i, wsum)
			for j := 0; j < p.c; j++ {
				k := (n*p.c+j)*p.d + d
				dx[k] += s * math.Exp(lp[k])
			}
			dx[(n*p.c+int(t))*p.d+d] -= s
		}
	}
	if len(dout) > 1 && dout[1] != nil {
		dl, err := toFloat64s(dout[1])
		if err != nil {
			return nil, err
		}
		for n := 0; n < p.n; n++ {
			for d := 0; d < p.d; d++ {
				var s float64
				for j := 0; j < p.c; j++ {
					s += dl[(n*p.c+j)*p.d+d]
				}
				for j := 0; j < p.c; j++ {
					k := (n*p.c+j)*p.d + d
					dx[k] += dl[k] - math.Exp(lp[k])*s
				}
			}
		}
	}
	f := make([]float32, len(dx))
	for i, v := range dx {
		f[i] = float32(v)
	}
	grads[0] = f32out(in[0].Shape, f)
	return grads, nil
}

func init() {
	Register(&Op{Type: "NegativeLogLikelihoodLoss", MinOpset: 12, Forward: nllKernel, Backward: nllGrad})
	Register(&Op{Type: "SoftmaxCrossEntropyLoss", MinOpset: 12, Forward: sceKernel, Backward: sceGrad})
}
