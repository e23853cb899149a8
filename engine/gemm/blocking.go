package gemm

// blocking is the cache blocking of one product: kc×nc blocks of B and
// mc×kc blocks of A (the last block in each direction may be smaller).
type blocking struct {
	mc, nc, kc int
}

// blockingFor sizes the blocks for an m×n×k product. Each dimension is cut
// into blocks of equal size (a multiple of the tile) no larger than the
// kernel's limit, so no thin last block costs an extra pass over C (k) or
// a mostly wasted tile. When all of A's rows fit one mc block, A takes
// little of L2, so the B block shrinks from L3 size (nc) to L2 size
// (ncL2), and is reused from L2 by every row tile.
func (kn *kernel) blockingFor(m, n, k int) blocking {
	nc := kn.nc
	if m <= kn.mc {
		nc = kn.ncL2
	}
	return blocking{
		mc: balance(m, kn.mc, kn.mr),
		nc: balance(n, nc, kn.nr),
		kc: balance(k, kn.kc, 1),
	}
}

// balance splits n into the fewest blocks of at most limit and returns the
// block size: the equal share rounded up to a multiple of unit.
func balance(n, limit, unit int) int {
	if n <= 0 {
		return limit
	}
	blocks := (n + limit - 1) / limit
	size := (n + blocks - 1) / blocks
	return (size + unit - 1) / unit * unit
}
