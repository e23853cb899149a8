package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/internal/testdata"
)

// linkPhotos makes a folder of symbolic links to reference photos (rel:
// paths below the reference data).
func linkPhotos(t *testing.T, dir string, rel ...string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range rel {
		if err := os.Symlink(testdata.Path(t, r), filepath.Join(dir, filepath.Base(r))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBudgetPPOCRKeepsTheTextMap is issue 7's PP-OCRv4 det figure as a
// test, at the benchmark's settings (docs/bench-vs-ort.md): calibrated on
// the 5 first OpenCV photos, an int8/float budget of 24 dB measured on 4
// text-rich photos of photos27, and the text map (probability > 0.3)
// compared in ONNX Runtime 1.30 with the float model's on the 5 held-out
// photos, none of which the tool saw: IoU at least 0.97 (the benchmark
// measures 0.986; the issue asks 0.97). Latency is the benchmark's job.
func TestBudgetPPOCRKeepsTheTextMap(t *testing.T) {
	dir := t.TempDir()
	calib := linkPhotos(t, filepath.Join(dir, "calib"), "images/HappyFish.jpg", "images/apple.jpg", "images/baboon.jpg", "images/building.jpg", "images/butterfly.jpg")
	budget := linkPhotos(t, filepath.Join(dir, "budget"), "photos27/board.jpg", "photos27/licenseplate_motion.jpg", "photos27/sudoku.png", "photos27/text_defocus.jpg")
	held := linkPhotos(t, filepath.Join(dir, "held"), "images/fruits.jpg", "images/home.jpg", "images/messi5.jpg", "images/orange.jpg", "images/squirrel_cls.jpg")
	model := testdata.Path(t, testdata.RealModels["ppocr-det"])
	q := filepath.Join(dir, "ppocr.mixed.onnx")
	b := runBudget(t, "insert-qdq", model, "--calib", calib, "--eval", budget, "--preprocess", "ppocr-det-640",
		"--min-sqnr", "24", "--precisions", "int8,float", "--sensitivity-samples", "1", "-o", q)
	testdata.Written(t, q)

	src, err := dataset.OpenImageFolder(held, dataset.ImagePresets["ppocr-det-640"])
	if err != nil {
		t.Fatal(err)
	}
	maps := func(path string) [][]float32 {
		m, err := evaluate.Open(path, evaluate.Options{Engine: evaluate.EngineORT, ORTLib: ortLib(t), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var out [][]float32
		for i := range src.Len() {
			s, err := src.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			o, err := m.Run(s)
			if err != nil {
				t.Fatal(err)
			}
			p, err := o["sigmoid_0.tmp_0"].Float32s()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	ref, got := maps(model), maps(q)
	var inter, union int
	for i := range ref {
		for j, r := range ref[i] {
			a, b := r > 0.3, got[i][j] > 0.3
			if a && b {
				inter++
			}
			if a || b {
				union++
			}
		}
	}
	iou := float64(inter) / float64(union)
	t.Logf("%s; text-map IoU %.4f (%d/%d pixels) on the held-out photos in ONNX Runtime", b.Search.Why, iou, inter, union)
	if union < 5000 {
		t.Fatalf("the float model finds %d text pixels in the held-out photos, the benchmark 6837: the data changed", union)
	}
	if iou < 0.97 {
		t.Errorf("text-map IoU %.4f against the float model on the held-out photos, want at least 0.97", iou)
	}
}
