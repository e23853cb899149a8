package graph

// Rules of the quantization ops (QLinearConv, QLinearMatMul, ConvInteger
// and MatMulInteger are with their float forms in infer_nn.go).
func init() {
	addRules(quantizeRule, "QuantizeLinear")
	addRules(dequantizeRule, "DequantizeLinear")
	addRules(func(c *inferCtx) ([]typeInfo, error) {
		x := c.arg(0)
		x.dt = Uint8
		return []typeInfo{x, ranked(Float, nil), ranked(Uint8, nil)}, nil
	}, "DynamicQuantizeLinear")
}

// quantizeRule: the input's shape; the element type of the zero point
// when given, else output_dtype (opset 21), else uint8.
func quantizeRule(c *inferCtx) ([]typeInfo, error) {
	if err := checkQuantParams(c); err != nil {
		return nil, err
	}
	t := c.arg(0)
	switch {
	case c.has(2):
		t.dt = c.arg(2).dt
	case c.opset >= 21 && c.n.AttrInt("output_dtype", 0) != 0:
		t.dt = DType(c.n.AttrInt("output_dtype", 0))
	default:
		t.dt = Uint8
	}
	return []typeInfo{t}, nil
}

// dequantizeRule: the input's shape; the element type is output_dtype
// when given (opset 23), else the scale's, else float.
func dequantizeRule(c *inferCtx) ([]typeInfo, error) {
	if err := checkQuantParams(c); err != nil {
		return nil, err
	}
	t := c.arg(0)
	switch {
	case c.opset >= 23 && c.n.AttrInt("output_dtype", 0) != 0:
		t.dt = DType(c.n.AttrInt("output_dtype", 0))
	case c.arg(1).dt != Undefined:
		t.dt = c.arg(1).dt
	default:
		t.dt = Float
	}
	return []typeInfo{t}, nil
}

// checkQuantParams checks that a per-axis scale has one value per slice of
// the quantized axis and that the zero point has the scale's shape.
func checkQuantParams(c *inferCtx) error {
	x, s := c.arg(0), c.arg(1)
	if !s.ranked {
		return nil
	}
	if c.has(2) {
		if z := c.arg(2); z.ranked {
			if len(z.dims) != len(s.dims) {
				return c.errorf("zero point %s and scale %s differ in shape", fmtSymDims(z.dims), fmtSymDims(s.dims))
			}
			for i := range z.dims {
				if _, ok := unifyDim(z.dims[i], s.dims[i]); !ok {
					return c.errorf("zero point %s and scale %s differ in shape", fmtSymDims(z.dims), fmtSymDims(s.dims))
				}
			}
		}
	}
	if c.opset < 13 || len(s.dims) != 1 || s.dims[0].is(1) || !x.ranked || c.n.AttrInt("block_size", 0) != 0 {
		return nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", 1), len(x.dims))
	if err != nil {
		return c.errorf("per-axis scale: %v", err)
	}
	if _, ok := unifyDim(s.dims[0], x.dims[axis]); !ok {
		return c.errorf("per-axis scale has %s values, axis %d of the input %s has %s", s.dims[0], axis, fmtSymDims(x.dims), x.dims[axis])
	}
	return nil
}
