package dataset

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// MNISTPreprocess says how an MNIST image (uint8 pixels, 0 = background,
// 255 = ink, rows x cols) becomes a model input.
type MNISTPreprocess struct {
	// Input is the name of the model input the tensor is given to.
	Input string
	// Scale multiplies every pixel: 1 keeps the raw 0..255 values (what
	// mnist-7 was trained on), 1/255 maps them to 0..1. Zero means 1.
	Scale float32
	// Shape is the shape of one input tensor; it must hold rows*cols
	// elements. Nil means [1, 1, rows, cols] (NCHW, batch 1).
	Shape []int64
}

// MNISTPresets holds the preprocessing of the reference models by name.
var MNISTPresets = map[string]MNISTPreprocess{
	// mnist-7 (ONNX model zoo, CNTK): input "Input3" float [1,1,28,28] of
	// raw 0..255 pixels.
	"mnist-7": {Input: "Input3", Scale: 1, Shape: []int64{1, 1, 28, 28}},
}

// MNIST is a Source over idx image data: sample i is image i converted to
// float32 as the preprocessing says. Only that image is converted.
type MNIST struct {
	images *graph.Tensor // uint8 [N, rows, cols]
	pre    MNISTPreprocess
	n, hw  int
}

// NewMNIST returns a source over images, a uint8 tensor of shape
// [N, rows, cols] (as ReadIDX returns it).
func NewMNIST(images *graph.Tensor, pre MNISTPreprocess) (*MNIST, error) {
	if images.DType != graph.Uint8 || images.Rank() != 3 {
		return nil, fmt.Errorf("MNIST images must be uint8 [N, rows, cols], got %s %v", images.DType, images.Shape)
	}
	if pre.Input == "" {
		return nil, fmt.Errorf("MNIST preprocessing names no model input")
	}
	hw := int(images.Shape[1] * images.Shape[2])
	if pre.Shape == nil {
		pre.Shape = []int64{1, 1, images.Shape[1], images.Shape[2]}
	}
	if n, err := onnxio.ElemCount(pre.Shape); err != nil || n != int64(hw) {
		return nil, fmt.Errorf("input shape %v does not hold one %dx%d image", pre.Shape, images.Shape[1], images.Shape[2])
	}
	if pre.Scale == 0 {
		pre.Scale = 1
	}
	return &MNIST{images: images, pre: pre, n: int(images.Shape[0]), hw: hw}, nil
}

// OpenMNIST reads an idx3 image file (plain or .gz) and returns a source
// over it.
func OpenMNIST(imagesPath string, pre MNISTPreprocess) (*MNIST, error) {
	t, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	m, err := NewMNIST(t, pre)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagesPath, err)
	}
	return m, nil
}

// Len returns the number of images.
func (m *MNIST) Len() int { return m.n }

// Sample returns image i as a float32 tensor.
func (m *MNIST) Sample(i int) (map[string]*graph.Tensor, error) {
	if i < 0 || i >= m.n {
		return nil, fmt.Errorf("image %d is out of range: there are %d", i, m.n)
	}
	pix := m.images.Data.([]uint8)[i*m.hw : (i+1)*m.hw]
	out := make([]float32, m.hw)
	for j, p := range pix {
		out[j] = float32(p) * m.pre.Scale
	}
	t, err := graph.NewTensor(graph.Float, m.pre.Shape, out)
	if err != nil {
		return nil, err
	}
	return map[string]*graph.Tensor{m.pre.Input: t}, nil
}
