package gemm

// Kernels lists the names of the micro-kernels usable on this machine
// (fastest first; the portable Go kernel is always last).
func Kernels() []string {
	var names []string
	for _, k := range kernels {
		names = append(names, k.name)
	}
	return names
}

// UseKernel makes the named kernel active (e.g. to force the pure-Go
// fallback) and returns a function restoring the previous one.
func UseKernel(name string) (restore func()) {
	old := active
	for _, k := range kernels {
		if k.name == name {
			active = k
			return func() { active = old }
		}
	}
	panic("gemm: no kernel " + name)
}
