package graph

import "github.com/onnxq/onnxq/onnxio/onnxpb"

// decodePacked4 unpacks n 4-bit values stored two to an int32_data entry
// (low nibble first).
func decodePacked4(dt DType, n int, src []int32) any {
	packed := make([]byte, len(src))
	for i, v := range src {
		packed[i] = byte(v)
	}
	out := makeSlice(dt, n)
	for i := 0; i < n; i++ {
		if dt == Int4 {
			setInt(out, i, int32(signExtend4(nibble(packed, i))))
		} else {
			setInt(out, i, int32(nibble(packed, i)))
		}
	}
	return out
}

// typedFieldLen returns the number of entries of the named typed field.
func typedFieldLen(tp *onnxpb.TensorProto, field string) int {
	switch field {
	case "float_data":
		return len(tp.FloatData)
	case "double_data":
		return len(tp.DoubleData)
	case "int64_data":
		return len(tp.Int64Data)
	case "uint64_data":
		return len(tp.Uint64Data)
	case "string_data":
		return len(tp.StringData)
	}
	return len(tp.Int32Data)
}
