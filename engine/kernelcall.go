package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// callForward runs a kernel and turns a panic inside it (a kernel bug
// triggered by some input) into an error, so that a bad model or input
// fails the run instead of the process.
func callForward(op *Op, ctx *Context, in []*graph.Tensor) (outs []*graph.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			outs, err = nil, fmt.Errorf("internal error in the %s kernel: %v", op.Type, p)
		}
	}()
	return op.Forward(ctx, in)
}

// maxElements bounds the size of a tensor a kernel creates from values in
// the model (a shape input, repeats, a range): 2^31 elements, 8 GiB of
// float32, far above any real model's tensors and below what makes the
// allocator abort the process.
const maxElements = 1 << 31

// checkSize rejects shapes with negative dims or more than maxElements
// elements, without overflowing.
func checkSize(shape []int64) error {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v has a negative dim", shape)
		}
		if d != 0 && n > maxElements/d {
			return fmt.Errorf("shape %v has more than %d elements", shape, int64(maxElements))
		}
		n *= d
	}
	if n > maxElements {
		return fmt.Errorf("shape %v has more than %d elements", shape, int64(maxElements))
	}
	return nil
}
