package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxq/onnxq/graph"
)

// The ai.onnx.preview.training optimizers: Adagrad, Momentum and Adam
// update n tensors at once. Inputs are (R, T, X1..Xn, G1..Gn, state...),
// outputs the new X and the new state, in the same groups. Updates are
// computed in float64 and returned in each X's type.

const trainingDomain = "ai.onnx.preview.training"

// optimizerStep updates element x with gradient g and the state values
// s (one per state group); r is the learning rate and t the step count.
type optimizerStep func(n *graph.Node, r float64, t int64, x, g float64, s []float64) (float64, []float64)

func optimizerKernel(states int, step optimizerStep) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, len(in)); err != nil {
			return nil, err
		}
		groups := 2 + states
		if len(in) < 2 || (len(in)-2)%groups != 0 {
			return nil, fmt.Errorf("%d inputs do not split into R, T and %d groups", len(in), groups)
		}
		n := (len(in) - 2) / groups
		r, err := ScalarFloat(in[0], "R")
		if err != nil {
			return nil, err
		}
		tv, err := TensorInts(in[1], "T")
		if err != nil || len(tv) != 1 {
			return nil, fmt.Errorf("T must be one integer")
		}
		outs := make([]*graph.Tensor, n*(1+states))
		for i := 0; i < n; i++ {
			x := in[2+i]
			vals := make([][]float64, groups)
			for k := range vals {
				t := in[2+k*n+i]
				if !slices.Equal(t.Shape, x.Shape) {
					return nil, fmt.Errorf("input %d has shape %v, X%d has %v", 2+k*n+i, t.Shape, i, x.Shape)
				}
				if vals[k], err = toFloat64s(t); err != nil {
					return nil, err
				}
			}
			nx := make([]float64, len(vals[0]))
			ns := make([][]float64, states)
			for k := range ns {
				ns[k] = make([]float64, len(nx))
			}
			s := make([]float64, states)
			for e := range nx {
				for k := range s {
					s[k] = vals[2+k][e]
				}
				var upd []float64
				nx[e], upd = step(ctx.Node, r, tv[0], vals[0][e], vals[1][e], s)
				for k := range ns {
					ns[k][e] = upd[k]
				}
			}
			if outs[i], err = castFloats(nx, x.Shape, x.DType, true); err != nil {
				return nil, err
			}
			for k := range ns {
				if outs[(1+k)*n+i], err = castFloats(ns[k], x.Shape, in[2+(2+k)*n+i].DType, true); err != nil {
					return nil, err
				}
			}
		}
		return outs, nil
	}
}

func attr(n *graph.Node, name string, def float32) float64 { return float64(n.AttrFloat(name, def)) }

func adagradStep(n *graph.Node, r float64, t int64, x, g float64, s []float64) (float64, []float64) {
	r /= 1 + float64(t)*attr(n, "decay_factor", 0)
	g += attr(n, "norm_coefficient", 0) * x
	h := s[0] + g*g
	return x - r*g/(math.Sqrt(h)+attr(n, "epsilon", 1e-6)), []float64{h}
}

func momentumStep(n *graph.Node, r float64, t int64, x, g float64, s []float64) (float64, []float64) {
	alpha, beta := attr(n, "alpha", 0), attr(n, "beta", 0)
	g += attr(n, "norm_coefficient", 0) * x
	if t == 0 {
		beta = 1
	}
	v := alpha*s[0] + beta*g
	if n.AttrString("mode", "standard") == "nesterov" {
		return x - r*(g+alpha*v), []float64{v}
	}
	return x - r*v, []float64{v}
}

func adamStep(n *graph.Node, r float64, t int64, x, g float64, s []float64) (float64, []float64) {
	alpha, beta := attr(n, "alpha", 0.9), attr(n, "beta", 0.999)
	g += attr(n, "norm_coefficient", 0) * x
	v := alpha*s[0] + (1-alpha)*g
	h := beta*s[1] + (1-beta)*g*g
	if t > 0 {
		r *= math.Sqrt(1-math.Pow(beta, float64(t))) / (1 - math.Pow(alpha, float64(t)))
	}
	xn := x - r*v/(math.Sqrt(h)+attr(n, "epsilon", 1e-6))
	return (1 - attr(n, "norm_coefficient_post", 0)) * xn, []float64{v, h}
}

func checkMomentum(n *graph.Node) error {
	switch m := n.AttrString("mode", "standard"); m {
	case "standard", "nesterov":
		return nil
	default:
		return fmt.Errorf("mode %q must be standard or nesterov", m)
	}
}

func init() {
	Register(&Op{Domain: trainingDomain, Type: "Adagrad", MinOpset: 1, Forward: optimizerKernel(1, adagradStep)})
	Register(&Op{Domain: trainingDomain, Type: "Momentum", MinOpset: 1, Forward: optimizerKernel(1, momentumStep), Check: checkMomentum})
	Register(&Op{Domain: trainingDomain, Type: "Adam", MinOpset: 1, Forward: optimizerKernel(2, adamStep)})
}
