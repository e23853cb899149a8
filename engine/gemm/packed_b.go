package gemm

// PackedB is a right operand packed once for many products, e.g. the
// weights W of a MatMul X·W or of a Gemm X·Wᵀ, multiplied by a new X on
// every call. Packing once matters most when op(A) has few rows (small
// batches), where repacking B would cost as much as the product. It is
// read-only after PackB, so one PackedB may be used by many goroutines at
// once. Its layout belongs to the micro-kernel active when it was packed.
type PackedB struct {
	k, n int
	kern *kernel
	data []float32
	bl   blocking // nc and kc as packed
	offs []int    // start in data of block (nc block jb, kc block pb) at jb*nkc+pb
	nkc  int      // number of kc blocks
}

// PackB packs op(B), a k×n matrix (stored n×k when transB) with row
// stride ldb, for PackedB.Mul. It panics on a too-short b or a bad stride,
// like Sgemm.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	checkDims(0, n, k)
	checkMatrix("B", transB, k, n, b, ldb)
	kn := active
	// The rows of A are not known yet: size nc for a large A.
	bl := kn.blockingFor(kn.mc+1, n, k)
	p := &PackedB{k: k, n: n, kern: kn, bl: bl, nkc: (k + bl.kc - 1) / bl.kc}
	size := 0
	for jc := 0; jc < n; jc += bl.nc {
		nc := min(bl.nc, n-jc)
		for pc := 0; pc < k; pc += bl.kc {
			p.offs = append(p.offs, size)
			size += packedSize(nc, min(bl.kc, k-pc), kn.nr)
		}
	}
	p.data = make([]float32, size)
	i := 0
	for jc := 0; jc < n; jc += bl.nc {
		nc := min(bl.nc, n-jc)
		for pc := 0; pc < k; pc += bl.kc {
			kn.packB(p.data[p.offs[i]:], transB, b, ldb, pc, min(bl.kc, k-pc), jc, nc, kn.nr)
			i++
		}
	}
	return p
}

// K reports the number of rows of the packed op(B).
func (p *PackedB) K() int { return p.k }

// N reports the number of columns of the packed op(B).
func (p *PackedB) N() int { return p.n }

// panels returns the packed B from column c (a multiple of nr) to the end
// of its nc block, rows [pc, pc+kc) of the kc block starting at pc.
func (p *PackedB) panels(c, pc int) []float32 {
	kc := min(p.bl.kc, p.k-pc)
	return p.data[p.offs[c/p.bl.nc*p.nkc+pc/p.bl.kc]+c%p.bl.nc/p.kern.nr*kc*p.kern.nr:]
}

// Mul computes C = alpha*op(A)*B + beta*C with B the packed k×n matrix,
// op(A) m×k (stored k×m when transA) with row stride lda, and C m×n with
// row stride ldc. It has Sgemm's semantics (beta 0 ignores C's contents)
// and threading.
func (p *PackedB) Mul(transA bool, m int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	checkDims(m, p.n, p.k)
	checkMatrix("C", false, m, p.n, c, ldc)
	if m == 0 || p.n == 0 {
		return
	}
	if alpha == 0 || p.k == 0 {
		scaleC(m, p.n, beta, c, ldc)
		return
	}
	checkMatrix("A", transA, m, p.k, a, lda)
	q := problem{
		kern: p.kern, transA: transA, m: m, n: p.n, k: p.k, alpha: alpha, beta: beta,
		a: a, lda: lda, c: c, ldc: ldc, pb: p,
	}
	q.run()
}
