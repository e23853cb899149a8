//go:build cgo

package ort

import (
	"encoding/binary"
	"fmt"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/onnxq/onnxq/graph"
)

// elemType maps graph element types to the tensors onnxruntime_go makes
// natively (its TensorData types). ONNX Runtime numbers element types as
// ONNX does, so graph.DType(x) converts ORT's enum.
type elemType struct {
	// toORT wraps tensor data (a slice of the Go type) without copying.
	toORT func(shape []int64, data any) (ortgo.Value, error)
	// scalar makes an empty rank-0 output for ONNX Runtime to fill (the
	// binding cannot convert rank-0 outputs it allocates itself).
	scalar func() (ortgo.Value, error)
}

var elemTypes = map[graph.DType]elemType{
	graph.Float:  native[float32](),
	graph.Double: native[float64](),
	graph.Int64:  native[int64](),
	graph.Int32:  native[int32](),
	graph.Int16:  native[int16](),
	graph.Int8:   native[int8](),
	graph.Uint8:  native[uint8](),
	graph.Uint16: native[uint16](),
	graph.Uint32: native[uint32](),
	graph.Uint64: native[uint64](),
	graph.Bool:   native[bool](),
}

func native[T ortgo.TensorData]() elemType {
	return elemType{
		toORT: func(shape []int64, data any) (ortgo.Value, error) {
			d := data.([]T)
			if len(shape) == 0 {
				return ortgo.NewScalar(d[0])
			}
			return ortgo.NewTensor(ortgo.Shape(shape), d)
		},
		scalar: func() (ortgo.Value, error) { return ortgo.NewEmptyScalar[T]() },
	}
}

// rawTypes are element types the binding has no Go type for: they travel
// as bytes. Only 16-bit floats are supported.
var rawTypes = map[graph.DType]ortgo.TensorElementDataType{
	graph.Float16:  ortgo.TensorElementDataTypeFloat16,
	graph.BFloat16: ortgo.TensorElementDataTypeBFloat16,
}

// toORT converts an input tensor; native types share the tensor's memory
// (ONNX Runtime does not write to inputs).
func toORT(t *graph.Tensor) (ortgo.Value, error) {
	if et, ok := elemTypes[t.DType]; ok {
		return et.toORT(t.Shape, t.Data)
	}
	if rt, ok := rawTypes[t.DType]; ok {
		if len(t.Shape) == 0 || t.Len() == 0 {
			return nil, fmt.Errorf("%s tensors of shape %v cannot be passed through onnxruntime_go", t.DType, t.Shape)
		}
		return ortgo.NewCustomDataTensor(ortgo.Shape(t.Shape), t.RawBytes(), rt)
	}
	return nil, fmt.Errorf("%s tensors are not supported by the ONNX Runtime engine", t.DType)
}

// preallocate returns an output value for ONNX Runtime to fill when the
// binding could not convert one it allocated (rank 0, 16-bit floats), or
// nil to let ONNX Runtime allocate. info is the session's description of
// the output.
func preallocate(info ortgo.InputOutputInfo) (ortgo.Value, error) {
	dt := graph.DType(info.DataType)
	static := true
	for _, d := range info.Dimensions {
		static = static && d >= 0
	}
	if et, ok := elemTypes[dt]; ok && len(info.Dimensions) == 0 {
		return et.scalar()
	}
	if rt, ok := rawTypes[dt]; ok && static && len(info.Dimensions) > 0 {
		n := info.Dimensions.FlattenedSize()
		if n > 0 {
			return ortgo.NewCustomDataTensor(info.Dimensions.Clone(), make([]byte, 2*n), rt)
		}
	}
	return nil, nil
}

// fromORT copies an output value into a graph tensor (native types keep
// the Go slice the binding filled).
func fromORT(v ortgo.Value) (*graph.Tensor, error) {
	for _, x := range extractors {
		if t, ok, err := x(v); ok {
			return t, err
		}
	}
	if c, ok := v.(*ortgo.CustomDataTensor); ok {
		dt := graph.DType(c.DataType())
		if _, raw := rawTypes[dt]; raw {
			b := c.GetData()
			d := make([]uint16, len(b)/2)
			for i := range d {
				d[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
			return graph.NewTensor(dt, c.GetShape(), d)
		}
		return nil, fmt.Errorf("output of element type %s is not supported", dt)
	}
	return nil, fmt.Errorf("output of kind %s is not a tensor, which the ONNX Runtime engine does not support", v.GetONNXType())
}

var extractors = []func(ortgo.Value) (*graph.Tensor, bool, error){
	extract[float32](graph.Float), extract[float64](graph.Double),
	extract[int64](graph.Int64), extract[int32](graph.Int32), extract[int16](graph.Int16), extract[int8](graph.Int8),
	extract[uint8](graph.Uint8), extract[uint16](graph.Uint16), extract[uint32](graph.Uint32), extract[uint64](graph.Uint64),
	extract[bool](graph.Bool),
}

func extract[T ortgo.TensorData](dt graph.DType) func(ortgo.Value) (*graph.Tensor, bool, error) {
	return func(v ortgo.Value) (*graph.Tensor, bool, error) {
		switch x := v.(type) {
		case *ortgo.Tensor[T]:
			shape := []int64(x.GetShape().Clone())
			if shape == nil {
				shape = []int64{}
			}
			t, err := graph.NewTensor(dt, shape, x.GetData())
			return t, true, err
		case *ortgo.Scalar[T]:
			t, err := graph.NewTensor(dt, []int64{}, []T{x.GetData()})
			return t, true, err
		}
		return nil, false, nil
	}
}
