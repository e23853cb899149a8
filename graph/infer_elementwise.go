package graph

// Rules of the elementwise ops: unary ops keep their input's type, binary
// and variadic ones broadcast numpy-style.
func init() {
	addRules(sameAs(0),
		"Identity", "Sqrt", "Reciprocal", "Exp", "Log", "Neg", "Abs", "Erf", "Relu", "LeakyRelu",
		"Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softmax", "LogSoftmax", "Sign",
		"Floor", "Ceil", "Round", "Not", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cos",
		"Cosh", "Sin", "Sinh", "Tan", "Softplus", "Softsign", "Selu", "Elu", "Celu", "Gelu", "Mish",
		"ThresholdedRelu", "Shrink", "Hardmax", "CumSum", "Trilu", "InstanceNormalization", "LRN",
		"MeanVarianceNormalization", "BitwiseNot", "ReverseSequence", "ScatterElements", "Scatter",
		"ScatterND", "LpNormalization")
	addRules(broadcastRule(false), "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean",
		"Mod", "BitShift", "PRelu", "BitwiseAnd", "BitwiseOr", "BitwiseXor")
	addRules(broadcastRule(true), "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
		"Or", "Xor")
	addRules(boolLike, "IsNaN", "IsInf")
	addRules(whereRule, "Where")
	addRules(likeWithDtype, "EyeLike", "RandomUniformLike", "RandomNormalLike", "Bernoulli")
}

// broadcastRule broadcasts all inputs; the output has the first input's
// element type, or Bool for comparisons and logical ops.
func broadcastRule(boolOut bool) inferRule {
	return func(c *inferCtx) ([]typeInfo, error) {
		dt := c.arg(0).dt
		if boolOut {
			dt = Bool
		}
		var shapes [][]symDim
		for i := range c.n.Inputs {
			t := c.arg(i)
			if !t.ranked {
				return []typeInfo{unranked(dt)}, nil
			}
			shapes = append(shapes, t.dims)
		}
		dims, err := broadcastDims(shapes...)
		if err != nil {
			return nil, c.errorf("inputs do not broadcast: %v", err)
		}
		return []typeInfo{ranked(dt, dims)}, nil
	}
}

func boolLike(c *inferCtx) ([]typeInfo, error) {
	t := c.arg(0)
	t.dt = Bool
	return []typeInfo{t}, nil
}

func whereRule(c *inferCtx) ([]typeInfo, error) {
	out, err := broadcastRule(false)(c)
	if err != nil {
		return nil, err
	}
	out[0].dt = c.arg(1).dt
	return out, nil
}

// likeWithDtype keeps the input's shape; the element type is the dtype
// attribute when given.
func likeWithDtype(c *inferCtx) ([]typeInfo, error) {
	t := c.arg(0)
	if dt := c.n.AttrInt("dtype", 0); dt != 0 {
		t.dt = DType(dt)
	}
	return []typeInfo{t}, nil
}
