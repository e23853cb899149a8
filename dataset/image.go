package dataset

import (
	"fmt"
	"image"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// ResizeMode chooses how ImagePreprocess resizes a decoded image.
type ResizeMode int

const (
	// ResizeNone keeps the decoded size.
	ResizeNone ResizeMode = iota
	// ResizeExact stretches the image to Width x Height (the aspect ratio
	// is not kept).
	ResizeExact
	// ResizeShorter scales the image, keeping its aspect ratio, so that its
	// shorter side is Size (the longer side is truncated to an integer, as
	// torchvision's Resize does).
	ResizeShorter
	// ResizeLimitMax scales the image down, keeping its aspect ratio, so
	// that its longer side is at most Size; smaller images keep their size
	// (PaddleOCR's DetResizeForTest with limit_type "max").
	ResizeLimitMax
)

// ChannelOrder is the order of the colour channels in the tensor.
type ChannelOrder int

const (
	RGB ChannelOrder = iota // red, green, blue
	BGR                     // blue, green, red (OpenCV's order)
)

// Layout is the memory layout of the image tensor.
type Layout int

const (
	NCHW Layout = iota // [1, 3, H, W], channels first
	NHWC               // [1, H, W, 3], channels last
)

// ImagePreprocess says how a decoded JPEG or PNG becomes one model input
// tensor: a float32 batch of one, [1, 3, H, W] or [1, H, W, 3]. The steps
// run in this order: decode to 8-bit RGB (alpha dropped, EXIF orientation
// not applied), resize, round the size to a multiple, center crop, reorder
// the channels, normalize, lay out.
type ImagePreprocess struct {
	// Input is the name of the model input the tensor is given to.
	Input string

	// Resize chooses the resizing rule; Width and Height are the target of
	// ResizeExact, Size the side of ResizeShorter and ResizeLimitMax.
	Resize        ResizeMode
	Width, Height int
	Size          int

	// Multiple, when > 0, then changes each side of the resized image to
	// the nearest multiple of Multiple (ties to even, as Python's round),
	// and at least Multiple: PaddleOCR's detectors need multiples of 32.
	Multiple int

	// CropWidth and CropHeight, when > 0, cut a window of that size from
	// the center of the resized image (offsets rounded down).
	CropWidth, CropHeight int

	// Channels is the channel order of the tensor.
	Channels ChannelOrder

	// Scale multiplies every 0..255 pixel value first; zero means 1. Then
	// Mean[c] is subtracted from channel c and the result divided by
	// Std[c] (a zero Std entry means 1): out = (pixel*Scale - Mean)/Std.
	// c counts in the tensor's channel order (Channels), not in RGB order.
	Scale float32
	Mean  [3]float32
	Std   [3]float32

	// Layout is NCHW or NHWC.
	Layout Layout
}

// imagenetMean and imagenetStd are the ImageNet statistics of 0..1 RGB
// pixels.
var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// ImagePresets holds the preprocessing of the reference image models.
var ImagePresets = map[string]ImagePreprocess{
	// PP-OCRv4 det (DBNet), input "x" float [N,3,H,W]. PaddleOCR's
	// tools/infer/predict_det.py builds DetResizeForTest{limit_side_len:
	// det_limit_side_len=960, limit_type: det_limit_type="max"},
	// NormalizeImage{scale: 1/255, mean: [0.485,0.456,0.406], std:
	// [0.229,0.224,0.225], order: hwc} and ToCHWImage; the image comes from
	// cv2.imread, so it is BGR and the ImageNet mean/std are applied to the
	// B, G, R channels in that order. DetResizeForTest (resize_image_type0
	// in ppocr/data/imaug/operators.py) scales by 960/max(h,w) when the
	// longer side exceeds 960, truncates with int(), then rounds each side
	// with max(int(round(side/32)*32), 32) and resizes with cv2.resize
	// (bilinear).
	"ppocr-det": {
		Input: "x", Resize: ResizeLimitMax, Size: 960, Multiple: 32,
		Channels: BGR, Scale: 1.0 / 255, Mean: imagenetMean, Std: imagenetStd, Layout: NCHW,
	},
	// MediaPipe BlazeFace front camera model as converted for Barracuda by
	// keijiro (input "input:0" float [1,128,128,3]): the image is stretched
	// to 128x128 and keijiro's Preprocess.compute writes rgb*2-1 of 0..1
	// RGB, i.e. values in [-1, 1], channels last.
	"blazeface-front": {
		Input: "input:0", Resize: ResizeExact, Width: 128, Height: 128,
		Channels: RGB, Scale: 1.0 / 255, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}, Layout: NHWC,
	},
	// BlazeFace back camera model: the same at 256x256 (input "input:0"
	// float [1,256,256,3]).
	"blazeface-back": {
		Input: "input:0", Resize: ResizeExact, Width: 256, Height: 256,
		Channels: RGB, Scale: 1.0 / 255, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}, Layout: NHWC,
	},
}

// check reports settings that cannot work.
func (p *ImagePreprocess) check() error {
	switch p.Resize {
	case ResizeNone:
	case ResizeExact:
		if p.Width <= 0 || p.Height <= 0 {
			return fmt.Errorf("ResizeExact needs Width and Height > 0, got %dx%d", p.Width, p.Height)
		}
	case ResizeShorter, ResizeLimitMax:
		if p.Size <= 0 {
			return fmt.Errorf("resize mode %d needs Size > 0", p.Resize)
		}
	default:
		return fmt.Errorf("unknown resize mode %d", p.Resize)
	}
	if p.Multiple < 0 || p.CropWidth < 0 || p.CropHeight < 0 {
		return fmt.Errorf("negative Multiple or crop size")
	}
	if p.Channels != RGB && p.Channels != BGR {
		return fmt.Errorf("unknown channel order %d", p.Channels)
	}
	if p.Layout != NCHW && p.Layout != NHWC {
		return fmt.Errorf("unknown layout %d", p.Layout)
	}
	return nil
}

// targetSize returns the size an image of w x h is resized to.
func (p *ImagePreprocess) targetSize(w, h int) (int, int) {
	fw, fh := float64(w), float64(h)
	switch p.Resize {
	case ResizeExact:
		w, h = p.Width, p.Height
	case ResizeShorter:
		r := float64(p.Size) / math.Min(fw, fh)
		w, h = int(fw*r), int(fh*r)
		if fw <= fh {
			w = p.Size
		} else {
			h = p.Size
		}
	case ResizeLimitMax:
		if max(w, h) > p.Size {
			var r float64
			if h > w {
				r = float64(p.Size) / fh
			} else {
				r = float64(p.Size) / fw
			}
			w, h = int(fw*r), int(fh*r)
		}
	}
	if m := p.Multiple; m > 0 {
		w = max(int(math.RoundToEven(float64(w)/float64(m)))*m, m)
		h = max(int(math.RoundToEven(float64(h)/float64(m)))*m, m)
	}
	return max(w, 1), max(h, 1)
}

// Apply turns a decoded image into the model input tensor.
func (p *ImagePreprocess) Apply(img image.Image) (*graph.Tensor, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	src := toRGB8(img)
	if src.w == 0 || src.h == 0 {
		return nil, fmt.Errorf("the image is empty")
	}
	tw, th := p.targetSize(src.w, src.h)
	if tw != src.w || th != src.h {
		src = resizeBilinear(src, tw, th)
	}
	if p.CropWidth > 0 || p.CropHeight > 0 {
		cw, ch := p.CropWidth, p.CropHeight
		if cw == 0 {
			cw = src.w
		}
		if ch == 0 {
			ch = src.h
		}
		if cw > src.w || ch > src.h {
			return nil, fmt.Errorf("crop %dx%d is larger than the resized image %dx%d", cw, ch, src.w, src.h)
		}
		src = src.crop((src.w-cw)/2, (src.h-ch)/2, cw, ch)
	}
	return p.normalize(src), nil
}

// normalize applies channel order, scale, mean, std and layout.
func (p *ImagePreprocess) normalize(src *rgb8) *graph.Tensor {
	scale := p.Scale
	if scale == 0 {
		scale = 1
	}
	order := [3]int{0, 1, 2}
	if p.Channels == BGR {
		order = [3]int{2, 1, 0}
	}
	// lut[c][v] is the output value of channel c for pixel value v.
	var lut [3][256]float32
	for c := range 3 {
		std := p.Std[c]
		if std == 0 {
			std = 1
		}
		for v := range 256 {
			lut[c][v] = (float32(v)*scale - p.Mean[c]) / std
		}
	}
	w, h := src.w, src.h
	out := make([]float32, 3*w*h)
	for y := range h {
		row := src.pix[3*w*y : 3*w*(y+1)]
		for x := range w {
			px := row[3*x : 3*x+3]
			for c := range 3 {
				v := lut[c][px[order[c]]]
				if p.Layout == NCHW {
					out[(c*h+y)*w+x] = v
				} else {
					out[(y*w+x)*3+c] = v
				}
			}
		}
	}
	shape := []int64{1, 3, int64(h), int64(w)}
	if p.Layout == NHWC {
		shape = []int64{1, int64(h), int64(w), 3}
	}
	return graph.MustTensor(graph.Float, shape, out)
}
