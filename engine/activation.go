package engine

import (
	"math"

	"github.com/onnxq/onnxq/graph"
)

// activationOps is the table of one-input activations whose function
// depends on attributes. Defaults are the ONNX ones.
var activationOps = map[string]unaryDef{
	"LeakyRelu": {1, func(n *graph.Node) unaryFns {
		a := float64(n.AttrFloat("alpha", 0.01))
		a32 := float32(a)
		return unaryFns{
			v32: func(dst, src []float32) {
				src = src[:len(dst)]
				for i, v := range src {
					dst[i] = max(v, 0) + a32*min(v, 0) // branch-free; keeps NaN
				}
			},
			f: func(x float64) float64 {
				if x >= 0 {
					return x
				}
				return a * x
			},
			d: func(x, y float64) float64 {
				if x >= 0 {
					return 1
				}
				return a
			},
		}
	}},
	"HardSigmoid": {1, func(n *graph.Node) unaryFns {
		a, b := float64(n.AttrFloat("alpha", 0.2)), float64(n.AttrFloat("beta", 0.5))
		a32, b32 := float32(a), float32(b)
		return unaryFns{
			v32: func(dst, src []float32) {
				src = src[:len(dst)]
				for i, v := range src {
					dst[i] = min(max(a32*v+b32, 0), 1)
				}
			},
			f: func(x float64) float64 { return math.Max(0, math.Min(1, a*x+b)) },
			d: func(x, y float64) float64 {
				if v := a*x + b; v > 0 && v < 1 {
					return a
				}
				return 0
			},
		}
	}},
	"HardSwish": {14, plain(
		func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }, nil,
		func(x, y float64) float64 {
			switch {
			case x <= -3:
				return 0
			case x >= 3:
				return 1
			}
			return x/3 + 0.5
		})},
	"Elu": {1, func(n *graph.Node) unaryFns {
		a := float64(n.AttrFloat("alpha", 1))
		return unaryFns{
			f: func(x float64) float64 {
				if x > 0 {
					return x
				}
				return a * math.Expm1(x)
			},
			d: func(x, y float64) float64 {
				if x > 0 {
					return 1
				}
				return y + a
			},
		}
	}},
	"Selu": {1, func(n *graph.Node) unaryFns {
		a := float64(n.AttrFloat("alpha", 1.67326319217681884765625))
		g := float64(n.AttrFloat("gamma", 1.05070102214813232421875))
		return unaryFns{
			f: func(x float64) float64 {
				if x > 0 {
					return g * x
				}
				return g * a * math.Expm1(x)
			},
			d: func(x, y float64) float64 {
				if x > 0 {
					return g
				}
				return g * a * math.Exp(x)
			},
		}
	}},
	"Celu": {12, func(n *graph.Node) unaryFns {
		a := float64(n.AttrFloat("alpha", 1))
		return unaryFns{f: func(x float64) float64 {
			return math.Max(0, x) + math.Min(0, a*math.Expm1(x/a))
		}}
	}},
	"ThresholdedRelu": {10, func(n *graph.Node) unaryFns {
		a := float64(n.AttrFloat("alpha", 1))
		return unaryFns{f: func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}}
	}},
	"Shrink": {9, func(n *graph.Node) unaryFns {
		bias, l := float64(n.AttrFloat("bias", 0)), float64(n.AttrFloat("lambd", 0.5))
		f := func(x float64) float64 {
			switch {
			case x < -l:
				return x + bias
			case x > l:
				return x - bias
			}
			return 0
		}
		return unaryFns{f: f, i: func(x int64) int64 { return int64(f(float64(x))) }}
	}},
	"Gelu": {20, func(n *graph.Node) unaryFns {
		if n.AttrString("approximate", "none") == "tanh" {
			return unaryFns{f: func(x float64) float64 {
				return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
			}}
		}
		return unaryFns{
			f: func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
			d: func(x, y float64) float64 {
				return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
			},
		}
	}},
	"Mish": {18, plain(func(x float64) float64 { return x * math.Tanh(softplus(x)) }, nil, nil)},
}

func init() { registerUnary(activationOps) }
