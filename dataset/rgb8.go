package dataset

import (
	"image"
	"image/color"
	"math"
)

// rgb8 is an 8-bit RGB image, rows top to bottom, 3 bytes per pixel.
type rgb8 struct {
	w, h int
	pix  []uint8
}

// toRGB8 converts a decoded image to 8-bit RGB, dropping alpha (colours of
// non-premultiplied images are kept as stored, like OpenCV's imread).
func toRGB8(img image.Image) *rgb8 {
	b := img.Bounds()
	out := &rgb8{w: b.Dx(), h: b.Dy(), pix: make([]uint8, 3*b.Dx()*b.Dy())}
	i := 0
	switch m := img.(type) {
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				out.pix[i], out.pix[i+1], out.pix[i+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				i += 3
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g := m.Pix[m.PixOffset(x, y)]
				out.pix[i], out.pix[i+1], out.pix[i+2] = g, g, g
				i += 3
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				o := m.PixOffset(x, y)
				copy(out.pix[i:i+3], m.Pix[o:o+3])
				i += 3
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				out.pix[i], out.pix[i+1], out.pix[i+2] = c.R, c.G, c.B
				i += 3
			}
		}
	}
	return out
}

func (m *rgb8) crop(x0, y0, w, h int) *rgb8 {
	out := &rgb8{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for y := range h {
		src := m.pix[3*((y0+y)*m.w+x0):]
		copy(out.pix[3*w*y:3*w*(y+1)], src[:3*w])
	}
	return out
}

// taps holds, for each output coordinate, the two source coordinates and
// the weight of the second.
type taps struct {
	i0, i1 []int
	f      []float32
}

// bilinearTaps computes the taps of OpenCV's INTER_LINEAR along one axis:
// the source coordinate of output d is (d+0.5)*src/dst - 0.5 (half-pixel
// centres), clamped to the edge pixels.
func bilinearTaps(src, dst int) taps {
	t := taps{i0: make([]int, dst), i1: make([]int, dst), f: make([]float32, dst)}
	scale := float64(src) / float64(dst)
	for d := range dst {
		fx := (float64(d)+0.5)*scale - 0.5
		s := int(math.Floor(fx))
		f := fx - float64(s)
		if s < 0 {
			s, f = 0, 0
		}
		if s >= src-1 {
			s, f = src-1, 0
		}
		t.i0[d], t.f[d] = s, float32(f)
		t.i1[d] = min(s+1, src-1)
	}
	return t
}

// resizeBilinear resizes m to w x h with OpenCV-style bilinear
// interpolation (cv2.resize's default INTER_LINEAR, no antialiasing),
// rounding to the nearest 8-bit value. It is deterministic: plain float32
// arithmetic in a fixed order.
func resizeBilinear(m *rgb8, w, h int) *rgb8 {
	tx, ty := bilinearTaps(m.w, w), bilinearTaps(m.h, h)
	out := &rgb8{w: w, h: h, pix: make([]uint8, 3*w*h)}
	// Horizontal pass of the two source rows each output row needs.
	rowA, rowB := make([]float32, 3*w), make([]float32, 3*w)
	hpass := func(dst []float32, y int) {
		src := m.pix[3*m.w*y : 3*m.w*(y+1)]
		for x := range w {
			a, b, f := 3*tx.i0[x], 3*tx.i1[x], tx.f[x]
			for c := range 3 {
				dst[3*x+c] = float32(src[a+c])*(1-f) + float32(src[b+c])*f
			}
		}
	}
	for y := range h {
		hpass(rowA, ty.i0[y])
		hpass(rowB, ty.i1[y])
		f := ty.f[y]
		o := out.pix[3*w*y : 3*w*(y+1)]
		for i := range o {
			v := rowA[i]*(1-f) + rowB[i]*f
			o[i] = uint8(min(max(math.Floor(float64(v)+0.5), 0), 255))
		}
	}
	return out
}
