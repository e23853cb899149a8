package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// resizeAttrs are the settings of a Resize (or Upsample) node.
type resizeAttrs struct {
	mode        string // nearest, linear, cubic
	coord       string // coordinate_transformation_mode
	nearest     string // nearest_mode, or "simple" (opset 10 and Upsample)
	cubicA      float32
	exclude     bool
	extrapolate float32
	keepAspect  string
	axes        []int64
	antialias   bool
}

var (
	resizeModes = map[string]bool{"nearest": true, "linear": true, "cubic": true}
	// coordTransforms map x_resized to x_original along one axis of lin
	// input elements. lout is the resized length as the ONNX reference
	// computes it, scale·lin (a float: it differs from the integer output
	// length when the scale does not divide evenly); start and end are
	// the roi of tf_crop_and_resize.
	coordTransforms = map[string]func(x, scale float32, lin int, lout, start, end float32) float32{
		"half_pixel": func(x, s float32, _ int, _, _, _ float32) float32 { return (x+0.5)/s - 0.5 },
		"half_pixel_symmetric": func(x, s float32, lin int, lout, _, _ float32) float32 {
			adj := float32(math.Floor(float64(lout))) / lout
			center := float32(lin) / 2
			return center*(1-adj) + (x+0.5)/s - 0.5
		},
		"pytorch_half_pixel": func(x, s float32, _ int, lout, _, _ float32) float32 {
			if lout > 1 {
				return (x+0.5)/s - 0.5
			}
			return 0
		},
		"align_corners": func(x, _ float32, lin int, lout, _, _ float32) float32 {
			if lout == 1 {
				return 0
			}
			return x * float32(lin-1) / (lout - 1)
		},
		"asymmetric":           func(x, s float32, _ int, _, _, _ float32) float32 { return x / s },
		"tf_half_pixel_for_nn": func(x, s float32, _ int, _, _, _ float32) float32 { return (x + 0.5) / s },
		"tf_crop_and_resize": func(x, _ float32, lin int, lout, start, end float32) float32 {
			if lout > 1 {
				return start*float32(lin-1) + x*(end-start)*float32(lin-1)/(lout-1)
			}
			return 0.5 * (start + end) * float32(lin-1)
		},
	}
	// nearestModes round x_original to an input index; down says the axis
	// is being shrunk (only "simple" uses it).
	nearestModes = map[string]func(x float32, down bool) int{
		"round_prefer_floor": func(x float32, _ bool) int {
			if x == float32(math.Floor(float64(x)))+0.5 {
				return int(math.Floor(float64(x)))
			}
			return int(math.Round(float64(x)))
		},
		"round_prefer_ceil": func(x float32, _ bool) int { return int(math.Round(float64(x))) },
		"floor":             func(x float32, _ bool) int { return int(math.Floor(float64(x))) },
		"ceil":              func(x float32, _ bool) int { return int(math.Ceil(float64(x))) },
		// ONNX Runtime's rule for Resize-10 and Upsample: ceil when
		// shrinking, truncation otherwise.
		"simple": func(x float32, down bool) int {
			if down {
				return int(math.Ceil(float64(x)))
			}
			return int(x)
		},
	}
	keepAspectPolicies = map[string]bool{"stretch": true, "not_larger": true, "not_smaller": true}
)

// readResizeAttrs reads a Resize node's attributes for its opset.
func readResizeAttrs(n *graph.Node, opset int64) (*resizeAttrs, error) {
	a := &resizeAttrs{
		mode:        n.AttrString("mode", "nearest"),
		coord:       n.AttrString("coordinate_transformation_mode", "half_pixel"),
		nearest:     n.AttrString("nearest_mode", "round_prefer_floor"),
		cubicA:      n.AttrFloat("cubic_coeff_a", -0.75),
		exclude:     n.AttrInt("exclude_outside", 0) != 0,
		extrapolate: n.AttrFloat("extrapolation_value", 0),
		keepAspect:  n.AttrString("keep_aspect_ratio_policy", "stretch"),
		axes:        n.AttrInts("axes", nil),
		antialias:   n.AttrInt("antialias", 0) != 0,
	}
	if opset < 11 {
		a.coord, a.nearest = "asymmetric", "simple"
	}
	if !resizeModes[a.mode] || (opset < 11 && a.mode == "cubic") {
		return nil, fmt.Errorf("mode %q is not supported (nearest, linear, cubic)", a.mode)
	}
	if coordTransforms[a.coord] == nil {
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", a.coord)
	}
	if nearestModes[a.nearest] == nil || a.nearest == "simple" && opset >= 11 {
		return nil, fmt.Errorf("nearest_mode %q is not supported", a.nearest)
	}
	if !keepAspectPolicies[a.keepAspect] {
		return nil, fmt.Errorf("keep_aspect_ratio_policy %q is not supported", a.keepAspect)
	}
	if a.antialias && a.mode != "nearest" {
		return nil, fmt.Errorf("antialias=1 (anti-aliased %s downsampling) is not supported", a.mode)
	}
	return a, nil
}

// resizeAxis is the interpolation along one axis: output index j reads
// input indices idx[j*taps+t] with weights w[j*taps+t]; outside[j] marks
// the outputs that get the extrapolation value (tf_crop_and_resize).
type resizeAxis struct {
	in, out  int
	taps     int
	idx      []int
	w        []float32
	outside  []bool
	identity bool
}

// resizeAxisPlan computes the taps of one axis resized from lin to lout
// elements with the given scale (and roi start, end for
// tf_crop_and_resize).
func resizeAxisPlan(a *resizeAttrs, lin, lout int, scale, start, end float32) *resizeAxis {
	ax := &resizeAxis{in: lin, out: lout, taps: map[string]int{"nearest": 1, "linear": 2, "cubic": 4}[a.mode], outside: make([]bool, lout)}
	ax.idx, ax.w = make([]int, lout*ax.taps), make([]float32, lout*ax.taps)
	transform := coordTransforms[a.coord]
	length := scale * float32(lin)
	clampIdx := func(i int) int { return min(max(i, 0), lin-1) }
	for j := 0; j < lout; j++ {
		x := transform(float32(j), scale, lin, length, start, end)
		if a.coord == "tf_crop_and_resize" && (x < 0 || x > float32(lin-1)) {
			ax.outside[j] = true
			continue
		}
		idx, w := ax.idx[j*ax.taps:(j+1)*ax.taps], ax.w[j*ax.taps:(j+1)*ax.taps]
		switch a.mode {
		case "nearest":
			idx[0], w[0] = clampIdx(nearestModes[a.nearest](x, scale < 1)), 1
		case "linear":
			x = min(max(x, 0), float32(lin-1))
			i0 := int(x)
			r := x - float32(i0)
			idx[0], idx[1] = i0, clampIdx(i0+1)
			w[0], w[1] = 1-r, r
		case "cubic":
			i0 := int(math.Floor(float64(x)))
			r := x - float32(i0)
			c := cubicCoeffs(r, a.cubicA)
			var sum float32
			for t := 0; t < 4; t++ {
				k := i0 - 1 + t
				if a.exclude && (k < 0 || k >= lin) {
					c[t] = 0
				}
				idx[t], w[t] = clampIdx(k), c[t]
				sum += c[t]
			}
			if a.exclude && sum != 0 {
				for t := range w {
					w[t] /= sum
				}
			}
		}
	}
	ax.identity = lin == lout
	for j := 0; j < lout && ax.identity; j++ {
		for t := 0; t < ax.taps; t++ {
			if ax.outside[j] || (ax.w[j*ax.taps+t] != 0 && (ax.idx[j*ax.taps+t] != j || ax.w[j*ax.taps+t] != 1)) {
				ax.identity = false
			}
		}
	}
	return ax
}

// cubicCoeffs returns the weights of the four inputs at distances 1+r, r,
// 1-r and 2-r from x (Keys' cubic convolution with parameter a).
func cubicCoeffs(r, a float32) [4]float32 {
	near := func(d float32) float32 { return ((a+2)*d-(a+3))*d*d + 1 }  // |d| <= 1
	far := func(d float32) float32 { return ((a*d-5*a)*d+8*a)*d - 4*a } // 1 < |d| < 2
	return [4]float32{far(r + 1), near(r), near(1 - r), far(2 - r)}
}

// resizePlan is a Resize node's plan for one input shape: one resizeAxis
// per dim (nil for dims left alone).
type resizePlan struct {
	attrs    *resizeAttrs
	inShape  []int64
	outShape []int64
	axes     []*resizeAxis
}

// newResizePlan computes the output shape and per-axis taps from the
// node's inputs: Resize-10 (X, scales), Resize-11+ (X, roi, scales,
// sizes).
func newResizePlan(ctx *Context, in []*graph.Tensor) (*resizePlan, error) {
	a, err := readResizeAttrs(ctx.Node, ctx.Opset)
	if err != nil {
		return nil, err
	}
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("Resize needs input X")
	}
	get := func(i int) *graph.Tensor {
		if i < len(in) && in[i] != nil && in[i].Len() > 0 {
			return in[i]
		}
		return nil
	}
	var roiT, scalesT, sizesT *graph.Tensor
	if ctx.Opset < 11 {
		scalesT = get(1)
	} else {
		roiT, scalesT, sizesT = get(1), get(2), get(3)
	}
	return planResize(a, in[0].Shape, roiT, scalesT, sizesT)
}

// planResize is newResizePlan after the inputs are sorted out.
func planResize(a *resizeAttrs, shape []int64, roiT, scalesT, sizesT *graph.Tensor) (*resizePlan, error) {
	r := len(shape)
	axes := make([]int, 0, r)
	if a.axes == nil {
		for i := 0; i < r; i++ {
			axes = append(axes, i)
		}
	} else {
		for _, x := range a.axes {
			if x < -int64(r) || x >= int64(r) {
				return nil, fmt.Errorf("axis %d is out of range for rank %d", x, r)
			}
			if x < 0 {
				x += int64(r)
			}
			axes = append(axes, int(x))
		}
	}
	k := len(axes)
	scales := make([]float32, r)
	sizes := make([]int, r)
	for i := range scales {
		scales[i], sizes[i] = 1, int(shape[i])
	}
	switch {
	case scalesT != nil && sizesT != nil:
		return nil, fmt.Errorf("give scales or sizes, not both")
	case scalesT != nil:
		s, err := scalesT.Float32s()
		if err != nil || len(s) != k {
			return nil, fmt.Errorf("scales %v must hold %d float values", scalesT.Shape, k)
		}
		for i, ax := range axes {
			if s[i] <= 0 {
				return nil, fmt.Errorf("scale %g must be positive", s[i])
			}
			scales[ax] = s[i]
		}
	case sizesT != nil:
		s, err := sizesT.Int64s()
		if err != nil || len(s) != k {
			return nil, fmt.Errorf("sizes %v must hold %d integers", sizesT.Shape, k)
		}
		for i, ax := range axes {
			if s[i] <= 0 {
				return nil, fmt.Errorf("size %d must be positive", s[i])
			}
			sizes[ax] = int(s[i])
			scales[ax] = float32(s[i]) / float32(shape[ax])
		}
		if a.keepAspect != "stretch" {
			pick := float32(math.Inf(1))
			if a.keepAspect == "not_smaller" {
				pick = float32(math.Inf(-1))
			}
			for _, ax := range axes {
				if a.keepAspect == "not_larger" {
					pick = min(pick, scales[ax])
				} else {
					pick = max(pick, scales[ax])
				}
			}
			for _, ax := range axes {
				scales[ax] = pick
				sizes[ax] = int(math.Round(float64(pick) * float64(shape[ax])))
			}
		}
	default:
		return nil, fmt.Errorf("Resize needs scales or sizes")
	}
	starts, ends := make([]float32, r), make([]float32, r)
	for i := range ends {
		ends[i] = 1
	}
	if a.coord == "tf_crop_and_resize" {
		if roiT == nil {
			return nil, fmt.Errorf("tf_crop_and_resize needs roi")
		}
		roi, err := roiT.Float32s()
		if err != nil || len(roi) != 2*k {
			return nil, fmt.Errorf("roi %v must hold %d float values", roiT.Shape, 2*k)
		}
		for i, ax := range axes {
			starts[ax], ends[ax] = roi[i], roi[i+k]
		}
	}
	p := &resizePlan{attrs: a, inShape: shape, outShape: make([]int64, r), axes: make([]*resizeAxis, r)}
	for d := 0; d < r; d++ {
		lin := int(shape[d])
		if scalesT != nil {
			sizes[d] = int(math.Floor(float64(lin) * float64(ends[d]-starts[d]) * float64(scales[d])))
		}
		p.outShape[d] = int64(sizes[d])
		if sizes[d] <= 0 && lin > 0 {
			return nil, fmt.Errorf("dim %d of %d elements scaled by %g has no output", d, lin, scales[d])
		}
		if lin == 0 {
			continue
		}
		ax := resizeAxisPlan(a, lin, sizes[d], scales[d], starts[d], ends[d])
		if !ax.identity {
			p.axes[d] = ax
		}
	}
	return p, nil
}
