package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Tensor is a dense, immutable tensor value: an initializer, the value of a
// Constant node, or a value computed by an engine.
//
// Data holds one Go value per element, in row-major order, in the slice
// type that DType names:
//
//	Float []float32       Double []float64      Int64 []int64    Int32 []int32
//	Int16 []int16         Int8, Int4 []int8     Uint8, Uint4 []uint8
//	Uint16 []uint16       Uint32 []uint32       Uint64 []uint64  Bool []bool
//	String []string       Complex64 []complex64 Complex128 []complex128
//	Float16, BFloat16 []uint16 (the bit patterns)
//	Float8* and Float4E2M1 []uint8 (the bit patterns, one element per byte)
//
// 4-bit types are unpacked in memory and packed two to a byte in files.
// Tensors are shared freely, so nobody writes to Data after construction:
// a pass that changes a tensor makes a new one.
type Tensor struct {
	DType DType
	Shape []int64
	Data  any

	// origin is the TensorProto this tensor was decoded from, kept so that
	// an unchanged tensor is written back byte for byte.
	origin *onnxpb.TensorProto
}

// NewTensor returns a tensor of the given type and shape over data, which
// must be the slice type that dt names and have one element per entry of
// the shape.
func NewTensor(dt DType, shape []int64, data any) (*Tensor, error) {
	n, err := onnxio.ElemCount(shape)
	if err != nil {
		return nil, err
	}
	l, ok := sliceLen(dt, data)
	if !ok {
		return nil, fmt.Errorf("tensor data of type %T does not hold %s", data, dt)
	}
	if int64(l) != n {
		return nil, fmt.Errorf("tensor of shape %v needs %d %s values, got %d", shape, n, dt, l)
	}
	return &Tensor{DType: dt, Shape: append([]int64{}, shape...), Data: data}, nil
}

// MustTensor is NewTensor for tensors built by code, where a mismatch is a
// programming error: it panics on error.
func MustTensor(dt DType, shape []int64, data any) *Tensor {
	t, err := NewTensor(dt, shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

// Scalar returns a rank-0 float32 tensor.
func Scalar(v float32) *Tensor { return MustTensor(Float, nil, []float32{v}) }

// Len returns the number of elements.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// IsOrigin reports whether t is exactly as decoded from its file, so that
// writing it back reproduces the original bytes.
func (t *Tensor) IsOrigin() bool { return t.origin != nil }

func sliceLen(dt DType, data any) (int, bool) {
	switch dt {
	case Float:
		d, ok := data.([]float32)
		return len(d), ok
	case Double:
		d, ok := data.([]float64)
		return len(d), ok
	case Int64:
		d, ok := data.([]int64)
		return len(d), ok
	case Int32:
		d, ok := data.([]int32)
		return len(d), ok
	case Int16:
		d, ok := data.([]int16)
		return len(d), ok
	case Int8, Int4:
		d, ok := data.([]int8)
		return len(d), ok
	case Uint8, Uint4, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0, Float4E2M1:
		d, ok := data.([]uint8)
		return len(d), ok
	case Uint16, Float16, BFloat16:
		d, ok := data.([]uint16)
		return len(d), ok
	case Uint32:
		d, ok := data.([]uint32)
		return len(d), ok
	case Uint64:
		d, ok := data.([]uint64)
		return len(d), ok
	case Bool:
		d, ok := data.([]bool)
		return len(d), ok
	case String:
		d, ok := data.([]string)
		return len(d), ok
	case Complex64:
		d, ok := data.([]complex64)
		return len(d), ok
	case Complex128:
		d, ok := data.([]complex128)
		return len(d), ok
	}
	return 0, false
}

// Float32s returns the elements converted to float32. For a Float tensor it
// returns Data itself, which the caller must not modify.
func (t *Tensor) Float32s() ([]float32, error) {
	if f, ok := t.Data.([]float32); ok && t.DType == Float {
		return f, nil
	}
	out := make([]float32, t.Len())
	switch d := t.Data.(type) {
	case []float64:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []int64:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []int32:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []int8:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []uint32:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []uint64:
		for i, v := range d {
			out[i] = float32(v)
		}
	case []bool:
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
	case []uint16:
		switch t.DType {
		case Float16:
			for i, v := range d {
				out[i] = Float16ToFloat32(v)
			}
		case BFloat16:
			for i, v := range d {
				out[i] = BFloat16ToFloat32(v)
			}
		default:
			for i, v := range d {
				out[i] = float32(v)
			}
		}
	case []uint8:
		switch t.DType {
		case Uint8, Uint4:
			for i, v := range d {
				out[i] = float32(v)
			}
		default:
			dec := Float8Decoder(t.DType)
			if dec == nil {
				return nil, fmt.Errorf("cannot convert %s to float32", t.DType)
			}
			for i, v := range d {
				out[i] = dec(v)
			}
		}
	default:
		return nil, fmt.Errorf("cannot convert %s to float32", t.DType)
	}
	return out, nil
}

// Int64s returns the elements of an integer or bool tensor as int64. For an
// Int64 tensor it returns Data itself, which the caller must not modify.
func (t *Tensor) Int64s() ([]int64, error) {
	if d, ok := t.Data.([]int64); ok {
		return d, nil
	}
	out := make([]int64, t.Len())
	switch d := t.Data.(type) {
	case []int32:
		for i, v := range d {
			out[i] = int64(v)
		}
	case []int16:
		for i, v := range d {
			out[i] = int64(v)
		}
	case []int8:
		for i, v := range d {
			out[i] = int64(v)
		}
	case []uint8:
		if t.DType != Uint8 && t.DType != Uint4 {
			return nil, fmt.Errorf("cannot read %s as integers", t.DType)
		}
		for i, v := range d {
			out[i] = int64(v)
		}
	case []uint16:
		if t.DType != Uint16 {
			return nil, fmt.Errorf("cannot read %s as integers", t.DType)
		}
		for i, v := range d {
			out[i] = int64(v)
		}
	case []uint32:
		for i, v := range d {
			out[i] = int64(v)
		}
	case []uint64:
		for i, v := range d {
			out[i] = int64(v)
		}
	case []bool:
		for i, v := range d {
			if v {
				out[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("cannot read %s as integers", t.DType)
	}
	return out, nil
}

// TensorFromProto decodes a TensorProto. ext supplies the bytes of a tensor
// stored as external data (onnxio.Model.ReadTensorData); it may be nil when
// the model has none.
func TensorFromProto(tp *onnxpb.TensorProto, ext func(*onnxpb.TensorProto) ([]byte, error)) (*Tensor, error) {
	dt := DType(tp.GetDataType())
	n64, err := onnxio.ElemCount(tp.GetDims())
	if err != nil {
		return nil, err
	}
	if _, ok := sliceLen(dt, makeSlice(dt, 0)); !ok {
		return nil, fmt.Errorf("unsupported data type %s", dt)
	}
	external := tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
	if field := onnxio.TypedField(int32(dt)); n64 > 0 && !external && tp.RawData == nil && typedFieldLen(tp, field) == 0 {
		return nil, fmt.Errorf("has %d elements but no data (%s is empty and raw_data is not set)", n64, field)
	}
	if n64 > math.MaxInt32*8 {
		return nil, fmt.Errorf("has %d elements, more than onnxq holds in memory (%d)", n64, int64(math.MaxInt32*8))
	}
	n := int(n64)
	raw := tp.RawData
	if external {
		if ext == nil {
			return nil, fmt.Errorf("tensor is stored as external data, which is not available here")
		}
		if raw, err = ext(tp); err != nil {
			return nil, err
		}
	}
	var data any
	if raw != nil || external {
		data, err = decodeRaw(dt, n, raw)
	} else {
		data, err = decodeTyped(dt, n, tp)
	}
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: append([]int64{}, tp.GetDims()...), Data: data, origin: tp}, nil
}

func makeSlice(dt DType, n int) any {
	switch dt {
	case Float:
		return make([]float32, n)
	case Double:
		return make([]float64, n)
	case Int64:
		return make([]int64, n)
	case Int32:
		return make([]int32, n)
	case Int16:
		return make([]int16, n)
	case Int8, Int4:
		return make([]int8, n)
	case Uint8, Uint4, Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0, Float4E2M1:
		return make([]uint8, n)
	case Uint16, Float16, BFloat16:
		return make([]uint16, n)
	case Uint32:
		return make([]uint32, n)
	case Uint64:
		return make([]uint64, n)
	case Bool:
		return make([]bool, n)
	case String:
		return make([]string, n)
	case Complex64:
		return make([]complex64, n)
	case Complex128:
		return make([]complex128, n)
	}
	return nil
}

// Zeros returns a tensor of zeros.
func Zeros(dt DType, shape []int64) *Tensor {
	n, err := onnxio.ElemCount(shape)
	if err != nil {
		panic(err)
	}
	return &Tensor{DType: dt, Shape: append([]int64{}, shape...), Data: makeSlice(dt, int(n))}
}

func decodeRaw(dt DType, n int, raw []byte) (any, error) {
	want, err := onnxio.ByteSize(int32(dt), int64(n))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != want {
		return nil, fmt.Errorf("raw data has %d bytes, %d %s values need %d", len(raw), n, dt, want)
	}
	le := binary.LittleEndian
	out := makeSlice(dt, n)
	switch d := out.(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
	case []int8:
		if dt == Int4 {
			for i := range d {
				d[i] = signExtend4(nibble(raw, i))
			}
		} else {
			for i := range d {
				d[i] = int8(raw[i])
			}
		}
	case []uint8:
		if dt == Uint4 || dt == Float4E2M1 {
			for i := range d {
				d[i] = nibble(raw, i)
			}
		} else {
			copy(d, raw)
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
	case []bool:
		for i := range d {
			d[i] = raw[i] != 0
		}
	case []complex64:
		for i := range d {
			d[i] = complex(math.Float32frombits(le.Uint32(raw[8*i:])), math.Float32frombits(le.Uint32(raw[8*i+4:])))
		}
	case []complex128:
		for i := range d {
			d[i] = complex(math.Float64frombits(le.Uint64(raw[16*i:])), math.Float64frombits(le.Uint64(raw[16*i+8:])))
		}
	default:
		return nil, fmt.Errorf("raw data cannot hold %s", dt)
	}
	return out, nil
}

func nibble(raw []byte, i int) uint8 {
	b := raw[i/2]
	if i%2 == 1 {
		return b >> 4
	}
	return b & 0xf
}

func signExtend4(v uint8) int8 { return int8(v<<4) >> 4 }

// decodeTyped decodes the typed data field of tp into n elements of dt. The
// field's length is checked before anything is allocated, so a tensor that
// claims many elements but carries few costs nothing.
func decodeTyped(dt DType, n int, tp *onnxpb.TensorProto) (any, error) {
	field := onnxio.TypedField(int32(dt))
	have := typedFieldLen(tp, field)
	want := n
	switch dt {
	case Complex64, Complex128:
		want = 2 * n // real and imaginary parts
	case Int4, Uint4, Float4E2M1:
		if have == (n+1)/2 && have != n {
			return decodePacked4(dt, n, tp.Int32Data), nil
		}
	}
	if have != want {
		return nil, fmt.Errorf("%s has %d values, %d %s values expected", field, have, n, dt)
	}
	out := makeSlice(dt, n)
	switch d := out.(type) {
	case []float32:
		copy(d, tp.FloatData)
	case []complex64:
		for i := range d {
			d[i] = complex(tp.FloatData[2*i], tp.FloatData[2*i+1])
		}
	case []float64:
		copy(d, tp.DoubleData)
	case []complex128:
		for i := range d {
			d[i] = complex(tp.DoubleData[2*i], tp.DoubleData[2*i+1])
		}
	case []int64:
		copy(d, tp.Int64Data)
	case []uint64:
		copy(d, tp.Uint64Data)
	case []uint32:
		for i, v := range tp.Uint64Data {
			d[i] = uint32(v)
		}
	case []string:
		for i, v := range tp.StringData {
			d[i] = string(v)
		}
	default: // every other type is carried in int32_data
		for i, v := range tp.Int32Data {
			setInt(out, i, v)
		}
	}
	return out, nil
}

func setInt(out any, i int, v int32) {
	switch d := out.(type) {
	case []int32:
		d[i] = v
	case []int16:
		d[i] = int16(v)
	case []int8:
		d[i] = int8(v)
	case []uint8:
		d[i] = uint8(v)
	case []uint16:
		d[i] = uint16(v)
	case []bool:
		d[i] = v != 0
	}
}

// ToProto encodes t as a TensorProto named name. A tensor decoded from a
// file and not changed since returns its original message (renamed if
// needed), so that it is written back byte for byte.
func (t *Tensor) ToProto(name string) *onnxpb.TensorProto {
	if t.origin != nil {
		if t.origin.GetName() == name {
			return t.origin
		}
	}
	tp := &onnxpb.TensorProto{Dims: append([]int64{}, t.Shape...), DataType: int32Ptr(int32(t.DType))}
	if name != "" {
		tp.Name = &name
	}
	if t.origin != nil {
		// Same data under another name: keep its encoding.
		c := cloneTensorProto(t.origin)
		c.Name = tp.Name
		return c
	}
	if t.DType == String {
		for _, s := range t.Data.([]string) {
			tp.StringData = append(tp.StringData, []byte(s))
		}
		return tp
	}
	tp.RawData = t.RawBytes()
	return tp
}

// RawBytes returns the little-endian file encoding of the data (4-bit types
// packed two to a byte, low nibble first). It panics for STRING.
func (t *Tensor) RawBytes() []byte {
	le := binary.LittleEndian
	n := t.Len()
	size, err := onnxio.ByteSize(int32(t.DType), int64(n))
	if err != nil {
		panic(err)
	}
	raw := make([]byte, size)
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []int64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case []int32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case []int16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], uint16(v))
		}
	case []int8:
		if t.DType == Int4 {
			for i, v := range d {
				putNibble(raw, i, uint8(v)&0xf)
			}
		} else {
			for i, v := range d {
				raw[i] = byte(v)
			}
		}
	case []uint8:
		if t.DType == Uint4 || t.DType == Float4E2M1 {
			for i, v := range d {
				putNibble(raw, i, v&0xf)
			}
		} else {
			copy(raw, d)
		}
	case []uint16:
		for i, v := range d {
			le.PutUint16(raw[2*i:], v)
		}
	case []uint32:
		for i, v := range d {
			le.PutUint32(raw[4*i:], v)
		}
	case []uint64:
		for i, v := range d {
			le.PutUint64(raw[8*i:], v)
		}
	case []bool:
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	case []complex64:
		for i, v := range d {
			le.PutUint32(raw[8*i:], math.Float32bits(real(v)))
			le.PutUint32(raw[8*i+4:], math.Float32bits(imag(v)))
		}
	case []complex128:
		for i, v := range d {
			le.PutUint64(raw[16*i:], math.Float64bits(real(v)))
			le.PutUint64(raw[16*i+8:], math.Float64bits(imag(v)))
		}
	default:
		panic(fmt.Sprintf("graph: RawBytes of %s", t.DType))
	}
	return raw
}

func putNibble(raw []byte, i int, v uint8) {
	if i%2 == 1 {
		raw[i/2] |= v << 4
	} else {
		raw[i/2] |= v
	}
}

func int32Ptr(v int32) *int32 { return &v }

func cloneTensorProto(tp *onnxpb.TensorProto) *onnxpb.TensorProto {
	return proto.Clone(tp).(*onnxpb.TensorProto)
}
