package graph

import "fmt"

// Rules of the neural-network ops: convolutions, pools, matrix products
// and normalizations.
func init() {
	addRules(convRule(0, 1, 2, func(c *inferCtx) DType { return c.arg(0).dt }), "Conv")
	addRules(convRule(0, 1, -1, func(*inferCtx) DType { return Int32 }), "ConvInteger")
	addRules(convRule(0, 3, 8, qlinearOutType), "QLinearConv")
	addRules(convTransposeRule, "ConvTranspose")
	addRules(poolRule, "MaxPool", "AveragePool", "LpPool")
	addRules(globalPoolRule, "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
	addRules(gemmRule, "Gemm")
	addRules(matmulRule(0, 1, func(c *inferCtx) DType { return c.arg(0).dt }), "MatMul")
	addRules(matmulRule(0, 1, func(*inferCtx) DType { return Int32 }), "MatMulInteger")
	addRules(matmulRule(0, 3, qlinearOutType), "QLinearMatMul")
	addRules(batchNormRule, "BatchNormalization")
	addRules(layerNormRule, "LayerNormalization")
	addRules(depthToSpaceRule, "DepthToSpace")
	addRules(spaceToDepthRule, "SpaceToDepth")
	addRules(dropoutRule, "Dropout")
	addRules(lossRule, "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss")
	addRules(roiAlignRule, "RoiAlign")
	addRules(gridSampleRule, "GridSample")
	addRules(maxUnpoolRule, "MaxUnpool")
}

// qlinearOutType is the element type of a QLinearConv / QLinearMatMul
// output: that of y_zero_point (input 7), else of the input.
func qlinearOutType(c *inferCtx) DType {
	if c.has(7) && c.arg(7).dt != Undefined {
		return c.arg(7).dt
	}
	return c.arg(0).dt
}

// convRule infers Conv-like ops: X [N, C, spatial...] with weight
// W [M, C/group, kernel...] gives [N, M, spatial'...]. bias is the input
// index of the bias [M] (-1 for none).
func convRule(xi, wi, bias int, dt func(*inferCtx) DType) inferRule {
	return func(c *inferCtx) ([]typeInfo, error) {
		x, w := c.arg(xi), c.arg(wi)
		odt := dt(c)
		if !x.ranked && !w.ranked {
			return []typeInfo{unranked(odt)}, nil
		}
		rank := len(x.dims)
		if !x.ranked {
			rank = len(w.dims)
			x = ranked(x.dt, make([]symDim, rank))
		}
		if rank < 3 {
			return nil, c.errorf("input has rank %d; Conv needs [N, C, spatial...]", rank)
		}
		if !w.ranked {
			w = ranked(w.dt, make([]symDim, rank))
		}
		if len(w.dims) != rank {
			return nil, c.errorf("weight has rank %d, the input rank %d", len(w.dims), rank)
		}
		group := c.n.AttrInt("group", 1)
		if group < 1 {
			return nil, c.errorf("group %d must be positive", group)
		}
		if x.dims[1].ok && w.dims[1].ok && x.dims[1].n != w.dims[1].n*group {
			return nil, c.errorf("input has %d channels, weight %s with group %d expects %d", x.dims[1].n, fmtSymDims(w.dims), group, w.dims[1].n*group)
		}
		if w.dims[0].ok && w.dims[0].n%group != 0 {
			return nil, c.errorf("%d output channels are not divisible by group %d", w.dims[0].n, group)
		}
		if bias >= 0 && c.has(bias) {
			if b := c.arg(bias); b.ranked {
				if len(b.dims) != 1 {
					return nil, c.errorf("bias has rank %d, want 1", len(b.dims))
				}
				if _, ok := unifyDim(b.dims[0], w.dims[0]); !ok {
					return nil, c.errorf("bias has %s values for %s output channels", b.dims[0], w.dims[0])
				}
			}
		}
		kernel := make([]int64, rank-2)
		for i, d := range w.dims[2:] {
			kernel[i] = -1
			if d.ok {
				kernel[i] = d.n
			}
		}
		win, err := readSlideWindow(c, rank-2, kernel)
		if err != nil {
			return nil, err
		}
		for i, k := range win.kernel {
			if w.dims[2+i].ok && k != w.dims[2+i].n {
				return nil, c.errorf("kernel_shape %v does not match the weight %s", win.kernel, fmtSymDims(w.dims))
			}
		}
		sp, err := win.spatialOut(c, x.dims[2:])
		if err != nil {
			return nil, err
		}
		dims := append([]symDim{x.dims[0], w.dims[0]}, sp...)
		return []typeInfo{ranked(odt, dims)}, nil
	}
}

// convTransposeRule: X [N, C, spatial...], W [C, M/group, kernel...] gives
// [N, M, out...] with out = stride*(in-1) + output_padding + dilated kernel
// - pads, or output_shape when given.
func convTransposeRule(c *inferCtx) ([]typeInfo, error) {
	x, w := c.arg(0), c.arg(1)
	if !x.ranked {
		return []typeInfo{unranked(x.dt)}, nil
	}
	rank := len(x.dims)
	if rank < 3 {
		return nil, c.errorf("input has rank %d; ConvTranspose needs [N, C, spatial...]", rank)
	}
	if !w.ranked {
		w = ranked(w.dt, make([]symDim, rank))
	}
	if len(w.dims) != rank {
		return nil, c.errorf("weight has rank %d, the input rank %d", len(w.dims), rank)
	}
	if _, ok := unifyDim(x.dims[1], w.dims[0]); !ok {
		return nil, c.errorf("input has %s channels, the weight %s expects %s", x.dims[1], fmtSymDims(w.dims), w.dims[0])
	}
	group := c.n.AttrInt("group", 1)
	m := unknownDim
	if w.dims[1].ok {
		m = knownDim(w.dims[1].n * group)
	}
	sp := rank - 2
	kernel := make([]int64, sp)
	for i, d := range w.dims[2:] {
		kernel[i] = -1
		if d.ok {
			kernel[i] = d.n
		}
	}
	win, err := readSlideWindow(c, sp, kernel)
	if err != nil {
		return nil, err
	}
	outPad := c.n.AttrInts("output_padding", make([]int64, sp))
	if len(outPad) != sp {
		return nil, c.errorf("output_padding has %d values for %d spatial dims", len(outPad), sp)
	}
	dims := []symDim{x.dims[0], m}
	if os := c.n.AttrInts("output_shape", nil); os != nil {
		if len(os) < sp {
			return nil, c.errorf("output_shape %v has fewer than %d spatial dims", os, sp)
		}
		return []typeInfo{ranked(x.dt, append(dims, staticDims(os[len(os)-sp:]...)...))}, nil
	}
	for i, in := range x.dims[2:] {
		if !in.ok || win.kernel[i] < 0 {
			dims = append(dims, unknownDim)
			continue
		}
		s := win.strides[i]
		var o int64
		switch win.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o = in.n * s
		case "VALID":
			o = s*(in.n-1) + outPad[i] + (win.kernel[i]-1)*win.dilations[i] + 1
		default:
			o = s*(in.n-1) + outPad[i] + (win.kernel[i]-1)*win.dilations[i] + 1 - win.pads[i] - win.pads[i+sp]
		}
		if o <= 0 {
			return nil, c.errorf("spatial dim %d: output size %d is not positive", i, o)
		}
		dims = append(dims, knownDim(o))
	}
	return []typeInfo{ranked(x.dt, dims)}, nil
}

// poolRule: X [N, C, spatial...] gives [N, C, spatial'...]; MaxPool's
// second output (Indices) has the same shape and type int64.
func poolRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{unranked(x.dt), unranked(Int64)}, nil
	}
	if len(x.dims) < 3 {
		return nil, c.errorf("input has rank %d; pools need [N, C, spatial...]", len(x.dims))
	}
	if !c.n.HasAttr("kernel_shape") {
		return nil, c.errorf("kernel_shape is required")
	}
	win, err := readSlideWindow(c, len(x.dims)-2, nil)
	if err != nil {
		return nil, err
	}
	sp, err := win.spatialOut(c, x.dims[2:])
	if err != nil {
		return nil, err
	}
	dims := append([]symDim{x.dims[0], x.dims[1]}, sp...)
	return []typeInfo{ranked(x.dt, dims), ranked(Int64, copyDims(dims))}, nil
}

func globalPoolRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if !x.ranked {
		return []typeInfo{x}, nil
	}
	if len(x.dims) < 2 {
		return nil, c.errorf("input has rank %d; global pools need [N, C, ...]", len(x.dims))
	}
	dims := copyDims(x.dims)
	for i := 2; i < len(dims); i++ {
		dims[i] = knownDim(1)
	}
	return []typeInfo{ranked(x.dt, dims)}, nil
}

// gemmRule: op(A) [M, K] times op(B) [K, N] gives [M, N].
func gemmRule(c *inferCtx) ([]typeInfo, error) {
	a, b := c.arg(0), c.arg(1)
	if !a.ranked || !b.ranked {
		return []typeInfo{ranked(a.dt, []symDim{unknownDim, unknownDim})}, nil
	}
	if len(a.dims) != 2 || len(b.dims) != 2 {
		return nil, c.errorf("A %s and B %s must both be matrices", fmtSymDims(a.dims), fmtSymDims(b.dims))
	}
	m, ka := a.dims[0], a.dims[1]
	if c.n.AttrInt("transA", 0) != 0 {
		m, ka = ka, m
	}
	kb, n := b.dims[0], b.dims[1]
	if c.n.AttrInt("transB", 0) != 0 {
		kb, n = n, kb
	}
	if _, ok := unifyDim(ka, kb); !ok {
		return nil, c.errorf("inner dimensions differ: A %s and B %s (transA=%d, transB=%d)", fmtSymDims(a.dims), fmtSymDims(b.dims), c.n.AttrInt("transA", 0), c.n.AttrInt("transB", 0))
	}
	if c.has(2) && c.arg(2).ranked {
		if _, err := broadcastDims([]symDim{m, n}, c.arg(2).dims); err != nil {
			return nil, c.errorf("C %s does not broadcast to [%s,%s]", fmtSymDims(c.arg(2).dims), m, n)
		}
	}
	return []typeInfo{ranked(a.dt, []symDim{m, n})}, nil
}

// matmulRule follows numpy.matmul: batch dims broadcast, a 1-D operand
// gains a dim of 1 that the result loses again.
func matmulRule(ai, bi int, dt func(*inferCtx) DType) inferRule {
	return func(c *inferCtx) ([]typeInfo, error) {
		a, b := c.arg(ai), c.arg(bi)
		odt := dt(c)
		if !a.ranked || !b.ranked {
			return []typeInfo{unranked(odt)}, nil
		}
		dims, err := matmulDims(a.dims, b.dims)
		if err != nil {
			return nil, c.errorf("%v", err)
		}
		return []typeInfo{ranked(odt, dims)}, nil
	}
}

func matmulDims(a, b []symDim) ([]symDim, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul operands must have rank >= 1, got %s and %s", fmtSymDims(a), fmtSymDims(b))
	}
	a1, b1 := a, b
	if len(a) == 1 {
		a1 = []symDim{knownDim(1), a[0]}
	}
	if len(b) == 1 {
		b1 = []symDim{b[0], knownDim(1)}
	}
	if _, ok := unifyDim(a1[len(a1)-1], b1[len(b1)-2]); !ok {
		return nil, fmt.Errorf("inner dimensions differ: %s times %s", fmtSymDims(a), fmtSymDims(b))
	}
	batch, err := broadcastDims(a1[:len(a1)-2], b1[:len(b1)-2])
	if err != nil {
		return nil, fmt.Errorf("batch dims of %s and %s do not broadcast: %v", fmtSymDims(a), fmtSymDims(b), err)
	}
	out := batch
	if len(a) > 1 {
		out = append(out, a1[len(a1)-2])
	}
	if len(b) > 1 {
		out = append(out, b1[len(b1)-1])
	}
	return out, nil
}

// batchNormRule: Y has X's type; the statistics outputs (running mean and
// variance from opset 14, mean, var, saved mean and saved var before) are
// [C].
func batchNormRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	ch := unknownDim
	if x.ranked {
		if len(x.dims) < 2 {
			return nil, c.errorf("input has rank %d; BatchNormalization needs [N, C, ...]", len(x.dims))
		}
		ch = x.dims[1]
	}
	for i := 1; i <= 4 && i < len(c.n.Inputs); i++ {
		p := c.arg(i)
		if !p.ranked || c.n.AttrInt("spatial", 1) == 0 {
			continue
		}
		if len(p.dims) != 1 {
			return nil, c.errorf("input %d has shape %s, want [C]", i, fmtSymDims(p.dims))
		}
		d, ok := unifyDim(ch, p.dims[0])
		if !ok {
			return nil, c.errorf("input %d has shape %s for %s channels", i, fmtSymDims(p.dims), ch)
		}
		ch = d
	}
	sdt := c.arg(3).dt
	if sdt == Undefined {
		sdt = x.dt
	}
	stat := ranked(sdt, []symDim{ch})
	return []typeInfo{x, stat, stat, stat, stat}, nil
}

// layerNormRule: Y has X's type; Mean and InvStdDev keep the dims before
// axis and have 1 from there on, with element type stash_type.
func layerNormRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	sdt := DType(c.n.AttrInt("stash_type", int64(Float)))
	if !x.ranked {
		return []typeInfo{x, unranked(sdt), unranked(sdt)}, nil
	}
	axis, err := axisIndex(c.n.AttrInt("axis", -1), len(x.dims))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	dims := copyDims(x.dims)
	for i := axis; i < len(dims); i++ {
		dims[i] = knownDim(1)
	}
	return []typeInfo{x, ranked(sdt, dims), ranked(sdt, copyDims(dims))}, nil
}

func blocksizeAttr(c *inferCtx) (int64, error) {
	b := c.n.AttrInt("blocksize", 0)
	if b <= 0 {
		return 0, c.errorf("blocksize %d must be positive", b)
	}
	return b, nil
}

// depthToSpaceRule: [N, C, H, W] gives [N, C/b², H*b, W*b].
func depthToSpaceRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	b, err := blocksizeAttr(c)
	if err != nil || !x.ranked {
		return []typeInfo{unranked(x.dt)}, err
	}
	if len(x.dims) != 4 {
		return nil, c.errorf("input has rank %d, want 4", len(x.dims))
	}
	d := x.dims
	if d[1].ok && d[1].n%(b*b) != 0 {
		return nil, c.errorf("%d channels are not divisible by blocksize² = %d", d[1].n, b*b)
	}
	return []typeInfo{ranked(x.dt, []symDim{d[0], scaleDim(d[1], 1, b*b), scaleDim(d[2], b, 1), scaleDim(d[3], b, 1)})}, nil
}

// spaceToDepthRule: [N, C, H, W] gives [N, C*b², H/b, W/b].
func spaceToDepthRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	b, err := blocksizeAttr(c)
	if err != nil || !x.ranked {
		return []typeInfo{unranked(x.dt)}, err
	}
	if len(x.dims) != 4 {
		return nil, c.errorf("input has rank %d, want 4", len(x.dims))
	}
	d := x.dims
	for _, s := range d[2:] {
		if s.ok && s.n%b != 0 {
			return nil, c.errorf("spatial dims %s are not divisible by blocksize %d", fmtSymDims(d), b)
		}
	}
	return []typeInfo{ranked(x.dt, []symDim{d[0], scaleDim(d[1], b*b, 1), scaleDim(d[2], 1, b), scaleDim(d[3], 1, b)})}, nil
}

// scaleDim returns d*mul/div when d is known.
func scaleDim(d symDim, mul, div int64) symDim {
	if !d.ok {
		return unknownDim
	}
	return knownDim(d.n * mul / div)
}

// dropoutRule: output like the input; the mask has its shape, type bool
// from opset 10 (the input's type before).
func dropoutRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	mask := x
	if c.opset >= 10 {
		mask.dt = Bool
	}
	return []typeInfo{x, mask}, nil
}

// lossRule: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss give a
// scalar, or the target's shape [N, d...] with reduction "none";
// SoftmaxCrossEntropyLoss's log_prob has the scores' type.
func lossRule(c *inferCtx) ([]typeInfo, error) {
	x, target := c.arg(0), c.arg(1)
	loss := ranked(x.dt, nil)
	if c.n.AttrString("reduction", "mean") == "none" {
		loss = unranked(x.dt)
		if target.ranked {
			loss = ranked(x.dt, copyDims(target.dims))
		}
	}
	return []typeInfo{loss, x}, nil
}

// roiAlignRule: [num_rois, C, output_height, output_width].
func roiAlignRule(c *inferCtx) ([]typeInfo, error) {
	x, rois := c.arg(0), c.arg(1)
	dims := []symDim{unknownDim, unknownDim, knownDim(c.n.AttrInt("output_height", 1)), knownDim(c.n.AttrInt("output_width", 1))}
	if rois.ranked && len(rois.dims) == 2 {
		dims[0] = rois.dims[0]
	}
	if x.ranked && len(x.dims) == 4 {
		dims[1] = x.dims[1]
	}
	return []typeInfo{ranked(x.dt, dims)}, nil
}

// gridSampleRule: X [N, C, ...] and grid [N, out..., r] give [N, C, out...].
func gridSampleRule(c *inferCtx) ([]typeInfo, error) {
	x, grid := c.arg(0), c.arg(1)
	if !x.ranked || !grid.ranked || len(x.dims) < 2 || len(grid.dims) < 2 {
		return []typeInfo{unranked(x.dt)}, nil
	}
	n, ok := unifyDim(x.dims[0], grid.dims[0])
	if !ok {
		return nil, c.errorf("input batch %s and grid batch %s differ", x.dims[0], grid.dims[0])
	}
	dims := append([]symDim{n, x.dims[1]}, grid.dims[1:len(grid.dims)-1]...)
	return []typeInfo{ranked(x.dt, dims)}, nil
}

// maxUnpoolRule: output_shape (input 2) when known, else
// (in-1)*stride + kernel - pads per spatial dim.
func maxUnpoolRule(c *inferCtx) ([]typeInfo, error) {
	x := c.arg(0)
	if c.has(2) {
		if shape, ok := c.elems(2); ok {
			return []typeInfo{ranked(x.dt, copyDims(shape))}, nil
		}
		return []typeInfo{unranked(x.dt)}, nil
	}
	if !x.ranked || len(x.dims) < 3 {
		return []typeInfo{unranked(x.dt)}, nil
	}
	sp := len(x.dims) - 2
	win, err := readSlideWindow(c, sp, nil)
	if err != nil {
		return nil, err
	}
	dims := []symDim{x.dims[0], x.dims[1]}
	for i, d := range x.dims[2:] {
		if !d.ok {
			dims = append(dims, unknownDim)
			continue
		}
		dims = append(dims, knownDim((d.n-1)*win.strides[i]+win.kernel[i]-win.pads[i]-win.pads[i+sp]))
	}
	return []typeInfo{ranked(x.dt, dims)}, nil
}
