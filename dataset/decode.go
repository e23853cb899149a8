package dataset

import (
	"encoding/binary"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// decodeLE decodes n little-endian elements of dt from raw (whose length
// the caller has checked) into the slice type graph.Tensor uses for dt.
func decodeLE(dt graph.DType, n int, raw []byte) any {
	le := binary.LittleEndian
	switch dt {
	case graph.Float:
		d := make([]float32, n)
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return d
	case graph.Double:
		d := make([]float64, n)
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return d
	case graph.Int64:
		d := make([]int64, n)
		for i := range d {
			d[i] = int64(le.Uint64(raw[8*i:]))
		}
		return d
	case graph.Uint64:
		d := make([]uint64, n)
		for i := range d {
			d[i] = le.Uint64(raw[8*i:])
		}
		return d
	case graph.Int32:
		d := make([]int32, n)
		for i := range d {
			d[i] = int32(le.Uint32(raw[4*i:]))
		}
		return d
	case graph.Uint32:
		d := make([]uint32, n)
		for i := range d {
			d[i] = le.Uint32(raw[4*i:])
		}
		return d
	case graph.Int16:
		d := make([]int16, n)
		for i := range d {
			d[i] = int16(le.Uint16(raw[2*i:]))
		}
		return d
	case graph.Uint16, graph.Float16:
		d := make([]uint16, n)
		for i := range d {
			d[i] = le.Uint16(raw[2*i:])
		}
		return d
	case graph.Int8:
		d := make([]int8, n)
		for i := range d {
			d[i] = int8(raw[i])
		}
		return d
	case graph.Uint8:
		d := make([]uint8, n)
		copy(d, raw)
		return d
	case graph.Bool:
		d := make([]bool, n)
		for i := range d {
			d[i] = raw[i] != 0
		}
		return d
	}
	panic("dataset: decodeLE of " + dt.String())
}
