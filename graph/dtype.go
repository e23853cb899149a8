package graph

import "github.com/onnxq/onnxq/onnxio"

// DType is a tensor element type, numbered as ONNX's TensorProto.DataType.
type DType int32

// The ONNX element types.
const (
	Undefined      DType = 0
	Float          DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Double         DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16       DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
	Float4E2M1     DType = 23
	Float8E8M0     DType = 24
)

// String returns the ONNX name of the type: "FLOAT", "INT8", ...
func (d DType) String() string { return onnxio.DataTypeName(int32(d)) }

// Bits returns the storage size of one element in bits (0 for STRING).
func (d DType) Bits() int { return onnxio.ElemBits(int32(d)) }

// IsFloat reports whether d is a floating-point type (any width).
func (d DType) IsFloat() bool {
	switch d {
	case Float, Double, Float16, BFloat16, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float4E2M1, Float8E8M0:
		return true
	}
	return false
}

// IsInteger reports whether d is a signed or unsigned integer type.
func (d DType) IsInteger() bool {
	switch d {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Uint32, Uint64, Uint4, Int4:
		return true
	}
	return false
}

// IntRange returns the smallest and largest value of an integer type.
func (d DType) IntRange() (lo, hi int64) {
	switch d {
	case Int4:
		return -8, 7
	case Uint4:
		return 0, 15
	case Int8:
		return -128, 127
	case Uint8:
		return 0, 255
	case Int16:
		return -32768, 32767
	case Uint16:
		return 0, 65535
	case Int32:
		return -1 << 31, 1<<31 - 1
	case Uint32:
		return 0, 1<<32 - 1
	case Int64, Uint64:
		return -1 << 63, 1<<63 - 1
	}
	return 0, 0
}
