//go:build !unix

package onnxio

// openNonblock is 0 where opening a file cannot block on a named pipe.
const openNonblock = 0
