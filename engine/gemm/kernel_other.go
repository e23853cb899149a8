//go:build !amd64 || purego

package gemm

// archKernels returns no assembly kernels: this build uses the Go kernel.
func archKernels() []*kernel { return nil }
