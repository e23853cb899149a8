package dataset

import (
	"github.com/onnxq/onnxq/graph"
)

// npyType maps one NumPy type code (the descr without its byte-order
// character) to the graph element type it is read into.
type npyType struct {
	code  string // "f4", "i8", "b1", ...
	dtype graph.DType
	size  int // bytes per element
}

// npyTypes lists the NumPy element types onnxq reads and writes. They are
// stored little-endian ("<") or, for one-byte types, without byte order
// ("|").
var npyTypes = []npyType{
	{"f4", graph.Float, 4},
	{"f8", graph.Double, 8},
	{"f2", graph.Float16, 2},
	{"i8", graph.Int64, 8},
	{"i4", graph.Int32, 4},
	{"i2", graph.Int16, 2},
	{"i1", graph.Int8, 1},
	{"u1", graph.Uint8, 1},
	{"u2", graph.Uint16, 2},
	{"u4", graph.Uint32, 4},
	{"u8", graph.Uint64, 8},
	{"b1", graph.Bool, 1},
}

func npyTypeByCode(code string) (npyType, bool) {
	for _, t := range npyTypes {
		if t.code == code {
			return t, true
		}
	}
	return npyType{}, false
}

func npyTypeByDType(dt graph.DType) (npyType, bool) {
	for _, t := range npyTypes {
		if t.dtype == dt {
			return t, true
		}
	}
	return npyType{}, false
}

// descr returns the NumPy descr string numpy itself writes for t: "|" for
// one-byte types, "<" (little-endian) for the others.
func (t npyType) descr() string {
	if t.size == 1 {
		return "|" + t.code
	}
	return "<" + t.code
}
