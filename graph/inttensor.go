package graph

import "fmt"

// IntTensor returns an integer tensor of type dt (INT4, UINT4, INT8, UINT8,
// INT16, UINT16, INT32, INT64, UINT32) with the given values, which must
// fit the type's range.
func IntTensor(dt DType, shape []int64, vals []int64) (*Tensor, error) {
	lo, hi := dt.IntRange()
	if lo == 0 && hi == 0 {
		return nil, fmt.Errorf("%s is not an integer type", dt)
	}
	t := Zeros(dt, shape)
	if t.Len() != len(vals) {
		return nil, fmt.Errorf("tensor of shape %v needs %d values, got %d", shape, t.Len(), len(vals))
	}
	for i, v := range vals {
		if dt != Uint64 && (v < lo || v > hi) {
			return nil, fmt.Errorf("value %d does not fit %s", v, dt)
		}
		switch d := t.Data.(type) {
		case []int8:
			d[i] = int8(v)
		case []uint8:
			d[i] = uint8(v)
		case []int16:
			d[i] = int16(v)
		case []uint16:
			d[i] = uint16(v)
		case []int32:
			d[i] = int32(v)
		case []uint32:
			d[i] = uint32(v)
		case []int64:
			d[i] = v
		case []uint64:
			d[i] = uint64(v)
		}
	}
	return t, nil
}
