package ort

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/onnxq/onnxq/graph"
)

// elemTypes are the element types that cross into ONNX Runtime: those whose
// graph.Tensor slice (see graph.Tensor) holds the elements exactly as ONNX
// Runtime lays them out, one little-endian value after another, so tensors
// pass without conversion. ONNX Runtime numbers element types as ONNX
// does, so graph.DType(x) converts its enum. Left out: STRING (not plain
// memory), 4-bit types (unpacked in a graph.Tensor, packed in ONNX Runtime)
// and complex numbers (no CPU kernels).
var elemTypes = map[graph.DType]bool{
	graph.Float: true, graph.Double: true, graph.Float16: true, graph.BFloat16: true,
	graph.Int8: true, graph.Int16: true, graph.Int32: true, graph.Int64: true,
	graph.Uint8: true, graph.Uint16: true, graph.Uint32: true, graph.Uint64: true,
	graph.Bool:         true,
	graph.Float8E4M3FN: true, graph.Float8E4M3FNUZ: true, graph.Float8E5M2: true, graph.Float8E5M2FNUZ: true,
}

// checkElemType says why a tensor of type dt cannot cross, or nil.
func checkElemType(dt graph.DType) error {
	if !elemTypes[dt] {
		return fmt.Errorf("%s tensors are not supported by the ONNX Runtime engine", dt)
	}
	return nil
}

// tensorBytes returns the memory of a tensor's elements (Data itself, not
// a copy). Its type must be one of elemTypes.
func tensorBytes(t *graph.Tensor) []byte {
	switch d := t.Data.(type) {
	case []float32:
		return asBytes(d)
	case []float64:
		return asBytes(d)
	case []int8:
		return asBytes(d)
	case []int16:
		return asBytes(d)
	case []int32:
		return asBytes(d)
	case []int64:
		return asBytes(d)
	case []uint8:
		return d
	case []uint16:
		return asBytes(d)
	case []uint32:
		return asBytes(d)
	case []uint64:
		return asBytes(d)
	case []bool:
		return asBytes(d)
	}
	panic(fmt.Sprintf("ort: tensor data %T", t.Data))
}

func asBytes[T any](d []T) []byte {
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(d))), len(d)*int(unsafe.Sizeof(zero)))
}

// noData stands in for the data of an empty tensor (ONNX Runtime wants a
// pointer even for zero bytes).
var noData [8]byte

// newValue wraps t in an OrtValue that shares t's memory, pinned by pin
// until the value is released (ONNX Runtime does not write to inputs). The
// caller releases the value.
func (lib *library) newValue(t *graph.Tensor, pin *runtime.Pinner) (uintptr, error) {
	if err := checkElemType(t.DType); err != nil {
		return 0, err
	}
	data := tensorBytes(t)
	p := unsafe.Pointer(&noData[0])
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
		pin.Pin(p)
	}
	var v uintptr
	err := lib.api.check(lib.api.createTensorWithData(lib.cpu, p, uintptr(len(data)), t.Shape, uintptr(len(t.Shape)), int32(t.DType), &v))
	return v, err
}

// tensorInfo reads an OrtTensorTypeAndShapeInfo: the element type and the
// dimensions (-1 for a dimension that is not fixed).
func (lib *library) tensorInfo(info uintptr) (graph.DType, []int64, error) {
	a := lib.api
	var dt int32
	var rank uintptr
	if err := a.check(a.getElementType(info, &dt)); err != nil {
		return 0, nil, err
	}
	if err := a.check(a.getDimensionsCount(info, &rank)); err != nil {
		return 0, nil, err
	}
	dims := make([]int64, rank)
	if rank > 0 {
		if err := a.check(a.getDimensions(info, dims, rank)); err != nil {
			return 0, nil, err
		}
	}
	return graph.DType(dt), dims, nil
}

// tensor copies an OrtValue that ONNX Runtime made into a graph tensor.
func (lib *library) tensor(v uintptr) (*graph.Tensor, error) {
	a := lib.api
	var kind int32
	if err := a.check(a.getValueType(v, &kind)); err != nil {
		return nil, err
	}
	if kind != onnxTypeTensor {
		return nil, fmt.Errorf("the output is not a tensor (ONNX type %d), which the ONNX Runtime engine does not support", kind)
	}
	var info uintptr
	if err := a.check(a.getTypeAndShape(v, &info)); err != nil {
		return nil, err
	}
	dt, shape, err := lib.tensorInfo(info)
	a.releaseTensorInfo(info)
	if err != nil {
		return nil, err
	}
	if err := checkElemType(dt); err != nil {
		return nil, err
	}
	t := graph.Zeros(dt, shape)
	dst := tensorBytes(t)
	if len(dst) == 0 {
		return t, nil
	}
	var src unsafe.Pointer
	if err := a.check(a.getMutableData(v, &src)); err != nil {
		return nil, err
	}
	copy(dst, unsafe.Slice((*byte)(src), len(dst)))
	return t, nil
}
