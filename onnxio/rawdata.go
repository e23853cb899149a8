package onnxio

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// RawBytes returns the bytes of a tensor stored in the model file in the
// raw_data encoding (little-endian, 4-bit values two to a byte, low nibble
// first), whether the file holds them in raw_data or in a typed field. It
// is how Save moves a typed tensor to an external data file. It fails for
// STRING tensors, tensors stored as external data, and tensors whose data
// disagrees with their dims.
func RawBytes(t *onnxpb.TensorProto) ([]byte, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q is stored as external data", t.GetName())
	}
	if err := checkTensor(t, "", nil); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if t.RawData != nil {
		return t.RawData, nil
	}
	dt := t.GetDataType()
	n, _ := ElemCount(t.GetDims()) // checked above
	size, err := ByteSize(dt, n)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	raw := make([]byte, size)
	le := binary.LittleEndian
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_COMPLEX64:
		for i, v := range t.FloatData {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_COMPLEX128:
		for i, v := range t.DoubleData {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case onnxpb.TensorProto_INT64:
		for i, v := range t.Int64Data {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case onnxpb.TensorProto_UINT64:
		for i, v := range t.Uint64Data {
			le.PutUint64(raw[8*i:], v)
		}
	case onnxpb.TensorProto_UINT32:
		for i, v := range t.Uint64Data {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case onnxpb.TensorProto_INT4, onnxpb.TensorProto_UINT4, onnxpb.TensorProto_FLOAT4E2M1:
		src := t.Int32Data
		if int64(len(src)) != n { // already packed two to an entry
			for i, v := range src {
				raw[i] = byte(v)
			}
			break
		}
		for i, v := range src {
			raw[i/2] |= byte(v&0xf) << (4 * (i % 2))
		}
	case onnxpb.TensorProto_BOOL:
		for i, v := range t.Int32Data {
			if v != 0 {
				raw[i] = 1
			}
		}
	default: // the rest live in int32_data, truncated to their width
		w := ElemBits(dt) / 8
		for i, v := range t.Int32Data {
			switch w {
			case 1:
				raw[i] = byte(v)
			case 2:
				le.PutUint16(raw[2*i:], uint16(v))
			case 4:
				le.PutUint32(raw[4*i:], uint32(v))
			}
		}
	}
	return raw, nil
}
