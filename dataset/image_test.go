package dataset

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// referenceImages are the OpenCV sample photos with the sizes their JPEG
// headers give (checked with file(1)).
var referenceImages = map[string][2]int{
	"HappyFish.jpg":    {259, 194},
	"apple.jpg":        {512, 512},
	"baboon.jpg":       {512, 512},
	"building.jpg":     {868, 600},
	"butterfly.jpg":    {493, 356},
	"fruits.jpg":       {512, 480},
	"home.jpg":         {512, 384},
	"messi5.jpg":       {548, 342},
	"orange.jpg":       {512, 512},
	"squirrel_cls.jpg": {535, 426},
}

func TestDecodeReferenceImages(t *testing.T) {
	dir := testdata.Path(t, "images")
	for name, size := range referenceImages {
		img, err := DecodeImageFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("%s: %dx%d, want %dx%d", name, b.Dx(), b.Dy(), size[0], size[1])
		}
	}
}

// TestPresetsOnReferenceImages runs every image preset over the image
// folder and checks shapes (PaddleOCR's rounding to multiples of 32) and
// value ranges.
func TestPresetsOnReferenceImages(t *testing.T) {
	dir := testdata.Path(t, "images")
	// Sides rounded as max(round(side/32)*32, 32) with no downscaling (all
	// images are under 960 pixels).
	ocr := map[string][2]int64{"building.jpg": {608, 864}, "HappyFish.jpg": {192, 256}, "messi5.jpg": {352, 544}, "apple.jpg": {512, 512}}
	for _, preset := range []string{"ppocr-det", "blazeface-front", "blazeface-back"} {
		pre := ImagePresets[preset]
		src, err := OpenImageFolder(dir, pre)
		if err != nil {
			t.Fatal(err)
		}
		if src.Len() != len(referenceImages) {
			t.Fatalf("%s: %d images, want %d", preset, src.Len(), len(referenceImages))
		}
		for i := range src.Len() {
			s, err := src.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			x := s[pre.Input]
			name := filepath.Base(src.Path(i))
			switch preset {
			case "ppocr-det":
				if want, ok := ocr[name]; ok && !reflect.DeepEqual(x.Shape, []int64{1, 3, want[0], want[1]}) {
					t.Errorf("%s %s: shape %v, want [1 3 %d %d]", preset, name, x.Shape, want[0], want[1])
				}
				if x.Shape[2]%32 != 0 || x.Shape[3]%32 != 0 {
					t.Errorf("%s %s: shape %v is not a multiple of 32", preset, name, x.Shape)
				}
			default:
				side := int64(pre.Width)
				if !reflect.DeepEqual(x.Shape, []int64{1, side, side, 3}) {
					t.Errorf("%s %s: shape %v", preset, name, x.Shape)
				}
			}
			// ImageNet normalisation maps 0..255 into about [-2.12, 2.64];
			// BlazeFace into [-1, 1].
			lo, hi := float32(-1), float32(1)
			if preset == "ppocr-det" {
				lo, hi = -0.485/0.229, (1-0.406)/0.225
			}
			for _, v := range x.Data.([]float32) {
				if v < lo-1e-6 || v > hi+1e-6 {
					t.Fatalf("%s %s: value %v outside [%v, %v]", preset, name, v, lo, hi)
				}
			}
		}
	}
	// Each preset feeds its reference model: name, type and shape agree.
	for _, preset := range []string{"ppocr-det", "blazeface-front", "blazeface-back"} {
		m, err := graph.FromFile(testdata.Path(t, testdata.RealModels[preset]))
		if err != nil {
			t.Fatal(err)
		}
		src, _ := OpenImageFolder(dir, ImagePresets[preset])
		if err := Validate(src, ModelInputs(m.Graph)); err != nil {
			t.Errorf("%s preset against the model: %v", preset, err)
		}
	}
}

// TestImagePixelByHand checks one pixel of a real photo, preprocessed as
// PP-OCR does without resizing, against the value computed by hand from
// the decoded colour.
func TestImagePixelByHand(t *testing.T) {
	path := filepath.Join(testdata.Path(t, "images"), "baboon.jpg")
	img, err := DecodeImageFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pre := ImagePresets["ppocr-det"] // 512x512 is a multiple of 32: no resize
	x, err := pre.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x.Shape, []int64{1, 3, 512, 512}) {
		t.Fatalf("shape %v", x.Shape)
	}
	d := x.Data.([]float32)
	for _, p := range [][2]int{{0, 0}, {100, 37}, {511, 511}, {256, 300}} {
		px, py := p[0], p[1]
		c := color.RGBAModel.Convert(img.At(px, py)).(color.RGBA)
		bgr := [3]uint8{c.B, c.G, c.R}
		for ch := range 3 {
			want := (float64(bgr[ch])/255 - float64(pre.Mean[ch])) / float64(pre.Std[ch])
			got := float64(d[(ch*512+py)*512+px])
			// image/color's YCbCr->RGBA path and color.YCbCrToRGB round
			// differently by at most one 8-bit level: 1/255/0.224 = 0.0175.
			if math.Abs(got-want) > 0.018 {
				t.Errorf("pixel (%d,%d) channel %d: got %v, want %v", px, py, ch, got, want)
			}
		}
	}
}

// TestResizeByHand resizes a 2x2 image to 4x4 and compares with bilinear
// values computed by hand with OpenCV's half-pixel rule.
func TestResizeByHand(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	src.SetNRGBA(0, 0, color.NRGBA{0, 10, 1, 255})
	src.SetNRGBA(1, 0, color.NRGBA{100, 20, 2, 255})
	src.SetNRGBA(0, 1, color.NRGBA{200, 30, 3, 255})
	src.SetNRGBA(1, 1, color.NRGBA{50, 40, 4, 255})
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "a.png"))
	png.Encode(f, src)
	f.Close()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)

	pre := ImagePreprocess{Input: "img", Resize: ResizeExact, Width: 4, Height: 4, Layout: NCHW}
	s, err := OpenImageFolder(dir, pre)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("%d images, want 1 (the .txt is not one)", s.Len())
	}
	sample, err := s.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	x := sample["img"]
	// Source x of output x' is (x'+0.5)/2-0.5 = -0.25, 0.25, 0.75, 1.25,
	// clamped to [0, 1]: weights (1,0), (.75,.25), (.25,.75), (0,1); the
	// same for rows. Red source rows are (0, 100) and (200, 50), so the
	// horizontal passes give r0 = 0, 25, 75, 100 and r1 = 200, 162.5, 87.5,
	// 50; output rows are r0, .75*r0+.25*r1, .25*r0+.75*r1, r1, rounded
	// half up.
	red := x.Data.([]float32)[:16]
	want := []float32{
		0, 25, 75, 100, // r0
		50, 59, 78, 88, // 50, 59.375, 78.125, 87.5
		150, 128, 84, 63, // 150, 128.125, 84.375, 62.5
		200, 163, 88, 50, // r1: 162.5 and 87.5 round up
	}
	if !reflect.DeepEqual(red, want) {
		t.Errorf("red channel\n got %v\nwant %v", red, want)
	}
	// Green is bilinear in both directions: the four corners are exact.
	green := x.Data.([]float32)[16:32]
	if green[0] != 10 || green[3] != 20 || green[12] != 30 || green[15] != 40 {
		t.Errorf("green corners %v", green)
	}

	// The same pixel with every option: BGR, mean/std, NHWC.
	pre = ImagePreprocess{Input: "img", Channels: BGR, Scale: 0.5, Mean: [3]float32{1, 2, 3}, Std: [3]float32{2, 4, 0}, Layout: NHWC}
	y, err := pre.Apply(src)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y.Shape, []int64{1, 2, 2, 3}) {
		t.Fatalf("NHWC shape %v", y.Shape)
	}
	// Pixel (1,0) = R100 G20 B2 -> B, G, R = (2*.5-1)/2, (20*.5-2)/4, (100*.5-3)/1.
	if got := y.Data.([]float32)[3:6]; !reflect.DeepEqual(got, []float32{0, 2, 47}) {
		t.Errorf("BGR normalised pixel (1,0) = %v, want [0 2 47]", got)
	}

	crop := ImagePreprocess{Input: "img", Resize: ResizeExact, Width: 4, Height: 4, CropWidth: 2, CropHeight: 2}
	z, err := crop.Apply(src)
	if err != nil {
		t.Fatal(err)
	}
	// The centre 2x2 of the 4x4 red channel.
	if got := z.Data.([]float32)[:4]; !reflect.DeepEqual(got, []float32{want[5], want[6], want[9], want[10]}) {
		t.Errorf("centre crop %v", got)
	}
}

func TestTargetSize(t *testing.T) {
	for _, tc := range []struct {
		pre  ImagePreprocess
		w, h int
		want [2]int
	}{
		// PaddleOCR: 1920x1080 -> ratio 0.5 -> 960x540 -> 960x544.
		{ImagePresets["ppocr-det"], 1920, 1080, [2]int{960, 544}},
		// Tiny images round up to one multiple.
		{ImagePresets["ppocr-det"], 10, 10, [2]int{32, 32}},
		// Python's round(2.5) = 2: a side of 80 stays 64.
		{ImagePresets["ppocr-det"], 80, 96, [2]int{64, 96}},
		{ImagePreprocess{Resize: ResizeShorter, Size: 256}, 640, 480, [2]int{341, 256}},
		{ImagePreprocess{Resize: ResizeShorter, Size: 256}, 480, 640, [2]int{256, 341}},
		{ImagePreprocess{}, 7, 5, [2]int{7, 5}},
	} {
		w, h := tc.pre.targetSize(tc.w, tc.h)
		if [2]int{w, h} != tc.want {
			t.Errorf("%+v on %dx%d: %dx%d, want %v", tc.pre, tc.w, tc.h, w, h, tc.want)
		}
	}
	if _, err := NewImages([]string{"x.jpg"}, ImagePreprocess{Input: "x", Resize: ResizeExact}); err == nil {
		t.Error("ResizeExact without a size was accepted")
	}
}
