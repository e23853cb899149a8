//go:build unix

package onnxio

import "syscall"

// openNonblock makes opening a named pipe that replaced a checked data
// file return at once instead of waiting for a writer.
const openNonblock = syscall.O_NONBLOCK
