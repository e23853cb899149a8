package gemm

import (
	"sync"
	"unsafe"
)

// workspace holds the packing buffers of one running GEMM. Workspaces are
// pooled, so repeated calls with the same shapes allocate nothing.
type workspace struct {
	a, b, tmp alignedBuf
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// alignedBuf is a growable float32 buffer whose start is 64-byte aligned
// (one cache line, one ZMM register).
type alignedBuf struct {
	raw []float32
}

// get returns n floats of the buffer, growing it if needed. The contents
// are unspecified.
func (ab *alignedBuf) get(n int) []float32 {
	const align = 64 / 4
	if cap(ab.raw) < n+align {
		ab.raw = make([]float32, n+n/4+align)
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(ab.raw)))%64) / 4
	if off != 0 {
		off = align - off
	}
	return ab.raw[off : off+n]
}
