package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// convPlan is everything a Conv (or the matching ConvTranspose, whose
// forward pass is a Conv's backward pass) needs to know about its shapes.
// The convolution computes, per image n and group g,
//
//	Y[n, g] (mg × P) = W[g] (mg × kdim) · cols(X[n, g]) (kdim × P)
//
// where cols is the im2col matrix of the group's cg input channels,
// kdim = cg·K (K kernel taps) and P is the number of output positions.
type convPlan struct {
	n, c, m, group int
	cg, mg         int
	win            *window // the 2-D view for 1-D and 2-D convolutions
	nd             bool    // 3-D or more: use the N-D im2col with taps
	taps           []int32 // ndTaps(win) when nd
	k, kdim        int     // kernel taps, cg*k
	inP, outP      int     // input and output positions per channel
	outSpatial     []int   // output spatial dims in the node's own rank
}

// pointwise reports whether the convolution is a plain matrix product per
// image: 1×1 kernel, stride 1, no padding, as many outputs as inputs
// (a transposed convolution's output can be longer). The input is then
// its own column matrix.
func (p *convPlan) pointwise() bool {
	if p.k != 1 || p.inP != p.outP {
		return false
	}
	w := p.win
	for i := range w.in {
		if w.stride[i] != 1 || w.padB[i] != 0 || w.padE[i] != 0 {
			return false
		}
	}
	return true
}

// depthwise reports whether each output channel reads one input channel
// (group == C), which a direct loop computes faster than a GEMM.
func (p *convPlan) depthwise() bool { return p.cg == 1 && !p.nd && p.group > 1 }

// newConvPlan checks the shapes of a Conv's input X [N, C, D...] and
// weight W [M, C/group, k...] against the node's attributes.
func newConvPlan(n *graph.Node, xShape, wShape []int64) (*convPlan, error) {
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
	p := &convPlan{n: int(xShape[0]), c: int(xShape[1]), m: int(wShape[0]), group: group}
	if group < 1 || p.c%group != 0 || p.m%group != 0 {
		return nil, fmt.Errorf("group %d does not divide input channels %d and output channels %d", group, p.c, p.m)
	}
	p.cg, p.mg = p.c/group, p.m/group
	if int(wShape[1]) != p.cg {
		return nil, fmt.Errorf("weight W has shape %v: with %d input channels and group %d its dim 1 must be %d", wShape, p.c, group, p.cg)
	}
	kernel, _ := spatialDims(wShape, "weight W")
	win, err := attrs.forwardWindow(in, kernel)
	if err != nil {
		return nil, err
	}
	p.outSpatial = win.out
	p.k, p.inP, p.outP = win.kSize(), win.inSize(), win.outSize()
	p.kdim = p.cg * p.k
	if win.rank() > 2 {
		p.nd, p.win, p.taps = true, win, ndTaps(win)
	} else {
		p.win = as2D(win)
	}
	return p, nil
}

// checkConv is the Check of Conv: attribute values the kernel cannot run.
func checkConv(n *graph.Node) error {
	_, err := readWindowAttrs(n)
	if err != nil {
		return err
	}
	if g := n.AttrInt("group", 1); g < 1 {
		return fmt.Errorf("group %d must be positive", g)
	}
	return nil
}

// bandRows returns how many output rows of a 2-D convolution one column
// buffer holds: about colTarget floats, at least one row.
func (p *convPlan) bandRows() int {
	const colTarget = 1 << 17 // 512 KiB of float32: stays in L2 with the packed GEMM panels
	rows := colTarget / max(1, p.kdim*p.win.out[1])
	return max(1, min(rows, p.win.out[0]))
}

// bands returns the number of row bands per (image, group).
func (p *convPlan) bands() int {
	if p.nd {
		return 1
	}
	return divCeil(p.win.out[0], p.bandRows())
}

// band returns the output rows [oh0, oh1) of band b.
func (p *convPlan) band(b int) (int, int) {
	if p.nd {
		return 0, 1
	}
	r := p.bandRows()
	return b * r, min((b+1)*r, p.win.out[0])
}

// bandCols returns the output positions of band b: [oh0*OW, oh1*OW).
func (p *convPlan) bandCols(b int) (int, int) {
	if p.nd {
		return 0, p.outP
	}
	oh0, oh1 := p.band(b)
	return oh0 * p.win.out[1], oh1 * p.win.out[1]
}

// im2col fills cols [kdim, band columns] for band b from the group's
// input channels x (cg channels of inP elements).
func (p *convPlan) im2col(x []float32, b int, cols []float32) {
	if p.nd {
		im2colND(x, p.cg, p.inP, p.taps, cols)
		return
	}
	oh0, oh1 := p.band(b)
	im2col2D(x, p.cg, p.win, oh0, oh1, cols)
}

// col2im adds the band's columns for channels [c0, c1) of the group back
// into dx (those channels' inP elements each).
func (p *convPlan) col2im(cols []float32, c0, c1, b int, dx []float32) {
	if p.nd {
		col2imND(cols, c1-c0, p.inP, p.taps, dx)
		return
	}
	oh0, oh1 := p.band(b)
	col2im2D(cols, c1-c0, p.win, oh0, oh1, dx)
}

// maxBandCols returns the number of columns of the largest band.
func (p *convPlan) maxBandCols() int {
	if p.nd {
		return p.outP
	}
	return p.bandRows() * p.win.out[1]
}

// im2colParallel is im2col with the group's channels split over the
// engine's threads (each channel owns k rows of cols).
func (p *convPlan) im2colParallel(x []float32, b int, cols []float32) {
	nc := len(cols) / p.kdim
	ParallelFor(p.cg, max(1, (1<<14)/max(1, p.k*nc)), func(c0, c1 int) {
		xs := x[c0*p.inP : c1*p.inP]
		cs := cols[c0*p.k*nc : c1*p.k*nc]
		if p.nd {
			im2colND(xs, c1-c0, p.inP, p.taps, cs)
			return
		}
		oh0, oh1 := p.band(b)
		im2col2D(xs, c1-c0, p.win, oh0, oh1, cs)
	})
}
