package dataset

import (
	"reflect"
	"testing"

	"github.com/onnxq/onnxq/internal/testdata"
)

// TestPresetPPOCR640 checks that ppocr-det-640 gives [1,3,640,640] for
// every reference photo, normalized as ppocr-det.
func TestPresetPPOCR640(t *testing.T) {
	src, err := OpenImageFolder(testdata.Path(t, "images"), ImagePresets["ppocr-det-640"])
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := float32(-0.485/0.229), float32((1-0.406)/0.225)
	for i := range src.Len() {
		s, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		x := s["x"]
		if !reflect.DeepEqual(x.Shape, []int64{1, 3, 640, 640}) {
			t.Fatalf("%s: shape %v, want [1 3 640 640]", src.Path(i), x.Shape)
		}
		for _, v := range x.Data.([]float32) {
			if v < lo-1e-6 || v > hi+1e-6 {
				t.Fatalf("%s: value %v outside the ImageNet-normalized range [%v, %v]", src.Path(i), v, lo, hi)
			}
		}
	}
}
