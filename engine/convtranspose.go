package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "ConvTranspose", MinOpset: 1, Forward: convTransposeForward, Backward: convTransposeBackward, Check: checkConvTranspose})
}

// ConvTranspose is the adjoint of a convolution. With X [N, C, in...] and
// W [C, M/group, k...], the convolution it transposes maps a tensor shaped
// like Y [N, M, out...] to one shaped like X, with weight W laid out
// exactly as a Conv weight ([out channels C, in channels M/group, k...]).
// So ConvTranspose's forward pass is that convolution's backwardData, and
// its gradients are the convolution's forward pass (dX) and
// backwardWeights (dW).

// newConvTransposePlan returns the plan of the convolution from Y-space to
// X-space that the node transposes, following the ONNX output-shape rules
// (output_shape, output_padding, auto_pad, pads).
func newConvTransposePlan(n *graph.Node, xShape, wShape []int64) (*convPlan, error) {
	attrs, err := readWindowAttrs(n)
	if err != nil {
		return nil, err
	}
	in, err := spatialDims(xShape, "input X")
	if err != nil {
		return nil, err
	}
	if len(wShape) != len(xShape) {
		return nil, fmt.Errorf("weight W has shape %v, input X has shape %v: ranks differ", wShape, xShape)
	}
	group := int(n.AttrInt("group", 1))
	c := int(xShape[1])
	if group < 1 || c%group != 0 {
		return nil, fmt.Errorf("group %d does not divide input channels %d", group, c)
	}
	if int(wShape[0]) != c {
		return nil, fmt.Errorf("weight W has shape %v: its dim 0 must be the %d input channels", wShape, c)
	}
	kernel, _ := spatialDims(wShape, "weight W")
	r := len(in)
	win := &window{in: make([]int, r), out: in, kernel: kernel, stride: make([]int, r), dil: make([]int, r), padB: make([]int, r), padE: make([]int, r)}
	if err := attrs.fill(win); err != nil {
		return nil, err
	}
	outPad := make([]int, r)
	if err := copyWindowAttr("output_padding", n.AttrInts("output_padding", nil), outPad); err != nil {
		return nil, err
	}
	outShape := n.AttrInts("output_shape", nil)
	if len(outShape) == r+2 {
		outShape = outShape[2:]
	}
	if outShape != nil && len(outShape) != r {
		return nil, fmt.Errorf("output_shape %v has %d entries for %d spatial dims", outShape, len(outShape), r)
	}
	for i := range r {
		ext := (kernel[i]-1)*win.dil[i] + 1
		natural := win.stride[i]*(in[i]-1) + outPad[i] + ext
		switch {
		case outShape != nil || attrs.autoPad == "SAME_UPPER" || attrs.autoPad == "SAME_LOWER":
			size := in[i] * win.stride[i]
			if outShape != nil {
				size = int(outShape[i])
			}
			// A negative total (output larger than the transposed
			// convolution covers) leaves the extra cells at the end, as
			// ONNX Runtime does.
			total := max(0, natural-size)
			if attrs.autoPad == "SAME_UPPER" {
				win.padB[i], win.padE[i] = total/2, total-total/2
			} else {
				win.padB[i], win.padE[i] = total-total/2, total/2
			}
			win.in[i] = size
		case attrs.autoPad == "VALID":
			win.padB[i], win.padE[i] = 0, 0
			win.in[i] = natural
		default:
			win.in[i] = natural - win.padB[i] - win.padE[i]
		}
		if win.in[i] <= 0 {
			return nil, fmt.Errorf("spatial dim %d: input %d, kernel %d, stride %d and pads %d+%d give no output", i, in[i], kernel[i], win.stride[i], win.padB[i], win.padE[i])
		}
	}
	p := &convPlan{n: int(xShape[0]), c: int(wShape[1]) * group, m: c, group: group}
	p.cg, p.mg = int(wShape[1]), c/group
	p.outSpatial = win.in
	p.k, p.inP, p.outP = win.kSize(), win.inSize(), win.outSize()
	p.kdim = p.cg * p.k
	if r > 2 {
		p.nd, p.win, p.taps = true, win, ndTaps(win)
	} else {
		p.win = as2D(win)
	}
	return p, nil
}

// checkConvTranspose is the Check of ConvTranspose.
func checkConvTranspose(n *graph.Node) error {
	if err := checkConv(n); err != nil {
		return err
	}
	for _, v := range n.AttrInts("output_padding", nil) {
		if v < 0 {
			return fmt.Errorf("output_padding %v must not be negative", n.AttrInts("output_padding", nil))
		}
	}
	return nil
}

// convTransposeForward computes ConvTranspose: Y = conv^T(X, W) + B.
func convTransposeForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("ConvTranspose needs inputs X and W")
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	w, err := floatIn(in[1], "weight W")
	if err != nil {
		return nil, err
	}
	bias, err := optFloatIn(in, 2, "bias B")
	if err != nil {
		return nil, err
	}
	p, err := newConvTransposePlan(ctx.Node, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	if bias != nil && len(bias) != p.c {
		return nil, fmt.Errorf("bias B has %d elements, want %d (output channels)", len(bias), p.c)
	}
	y := ctx.Float32s(p.n * p.c * p.inP) // zeroed: col2im accumulates
	if bias != nil {
		for i := 0; i < p.n*p.c; i++ {
			fillF32(y[i*p.inP:(i+1)*p.inP], bias[i%p.c])
		}
	}
	p.backwardData(w, x, y)
	return []*graph.Tensor{floatOut(in[0].DType, nchwShape(p.n, p.c, p.outSpatial), y)}, nil
}

// convTransposeBackward is the Gradient of ConvTranspose: dX is the
// convolution of dY with W, dW the convolution's weight gradient with dY
// as its input and X as its output gradient, dB the channel sums of dY.
func convTransposeBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	if len(dout) == 0 || dout[0] == nil {
		return grads, nil
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	w, err := floatIn(in[1], "weight W")
	if err != nil {
		return nil, err
	}
	p, err := newConvTransposePlan(ctx.Node, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := floatIn(dout[0], "gradient of Y")
	if err != nil {
		return nil, err
	}
	if len(dy) != p.n*p.c*p.inP {
		return nil, fmt.Errorf("gradient of Y has shape %v, want %v", dout[0].Shape, nchwShape(p.n, p.c, p.outSpatial))
	}
	dx := make([]float32, len(x))
	p.forward(dy, w, nil, dx)
	dw := make([]float32, len(w))
	p.backwardWeights(dy, x, dw)
	grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
	grads[1] = floatOut(in[1].DType, in[1].Shape, dw)
	if len(in) > 2 && in[2] != nil {
		grads[2] = floatOut(in[2].DType, in[2].Shape, sumChannels(dy, p.n, p.c, p.inP))
	}
	return grads, nil
}
