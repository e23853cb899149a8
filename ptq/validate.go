package ptq

import (
	"errors"
	"fmt"
	"strings"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
)

// validateData checks every sample of src against the model inputs
// before any work (dataset.Validate). A wrong array name, element type or
// shape is usually wrong in every sample, so sample 0 is checked alone
// first and, when it fails, only its problems are reported instead of the
// same ones for ten samples. The problems are joined with "; " so that the
// message reads as one line.
func validateData(src dataset.Source, inputs []*graph.Value) error {
	first, err := src.Sample(0)
	if err != nil {
		return fmt.Errorf("sample 0: %w", err)
	}
	err = dataset.CheckSample(0, first, inputs)
	if err != nil && src.Len() > 1 {
		err = fmt.Errorf("%w (the other samples were not checked)", err)
	}
	if err == nil {
		err = dataset.Validate(src, inputs)
	}
	if err == nil {
		return nil
	}
	return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
}
