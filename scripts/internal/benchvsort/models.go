package main

import (
	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/internal/testdata"
)

// task is what a model's outputs mean, which decides its fidelity figures.
type task string

const (
	// textMap: one probability map (PP-OCR det); IoU of the map
	// thresholded at textThreshold against the float model's.
	textMap task = "text-map"
	// faces: BlazeFace's score logits and box regressors; IoU of the
	// anchors with sigmoid(score) > 0.5, SQNR of every output.
	faces task = "faces"
	// digits: class logits (mnist-7); top-1 accuracy on the labels.
	digits task = "digits"
)

// textThreshold is PaddleOCR's det_db_thresh: a pixel is text when its
// probability exceeds it.
const textThreshold = 0.3

// benchModel is one model of the benchmark.
type benchModel struct {
	Name  string // key of testdata.RealModels
	Input string // the model input
	Task  task
	// Image is the preprocessing of the photos (image models).
	Image *dataset.ImagePreprocess
	// Preprocessing describes the inputs in words, for the report.
	Preprocessing string
	// ScoreOutputs are the score logits of a faces model.
	ScoreOutputs []string
	// Budget, when set, adds the variant onnxq-budget: insert-qdq's
	// int8/float budget search measured on other photos than the
	// held-out ones.
	Budget *budgetSpec
}

// budgetSpec is the onnxq-budget variant of a model: `insert-qdq
// --min-sqnr MinSQNR --precisions int8,float`, the budget measured on
// Photos (files of the photos27 reference item that are neither
// calibration nor held-out photos).
type budgetSpec struct {
	Photos  []string
	MinSQNR float64
}

// calibPhotos is how many of the photos (in sorted file-name order) the
// image models are calibrated on; the others are held out for evaluation.
const calibPhotos = 5

// mnistCalib is how many MNIST training images calibrate mnist-7; it is
// evaluated on all 10,000 test images.
const mnistCalib = 200

// ppocrSize is the fixed side PP-OCRv4 det's inputs are resized to. The
// "ppocr-det" preset keeps each photo's aspect ratio (longer side at most
// 960, sides rounded to multiples of 32), so the photos would have
// different shapes and could not be stacked into one .npz array; a square
// 640x640 resize (stretched, bilinear; the preset's BGR ImageNet
// normalization) gives all of them one shape, and is the size the issue
// measured ORT's calibrators at.
const ppocrSize = 640

func ppocrPreset() *dataset.ImagePreprocess {
	p := dataset.ImagePresets["ppocr-det"]
	p.Resize, p.Width, p.Height, p.Multiple = dataset.ResizeExact, ppocrSize, ppocrSize, 0
	return &p
}

func preset(name string) *dataset.ImagePreprocess {
	p := dataset.ImagePresets[name]
	return &p
}

// benchModels lists the models in table order.
var benchModels = []benchModel{
	{Name: "ppocr-det", Input: "x", Task: textMap, Image: ppocrPreset(),
		Preprocessing: "preset ppocr-det (BGR, ImageNet mean/std, NCHW) with a fixed 640x640 bilinear resize (stretched)",
		// The OpenCV sample photos with the most text in them.
		Budget: &budgetSpec{Photos: []string{"board.jpg", "licenseplate_motion.jpg", "sudoku.png", "text_defocus.jpg"}, MinSQNR: 24}},
	{Name: "blazeface-front", Input: "input:0", Task: faces, Image: preset("blazeface-front"),
		Preprocessing: "preset blazeface-front (RGB stretched to 128x128, values in [-1, 1], NHWC)",
		ScoreOutputs:  []string{"Identity:0", "Identity_1:0"}},
	{Name: "blazeface-back", Input: "input:0", Task: faces, Image: preset("blazeface-back"),
		Preprocessing: "preset blazeface-back (RGB stretched to 256x256, values in [-1, 1], NHWC)",
		ScoreOutputs:  []string{"Identity:0", "Identity_1:0"}},
	{Name: "mnist-7", Input: "Input3", Task: digits,
		Preprocessing: "preset mnist-7 (raw 0..255 pixels, [1,1,28,28])"},
}

// file returns the model's path relative to the reference data folder.
func (m benchModel) file() string { return testdata.RealModels[m.Name] }
