package gemm

// PackedA is a left operand packed once for many products, e.g. Conv
// weights (out channels × in channels·kh·kw) multiplied by the im2col
// columns of every image. It is read-only after PackA, so one PackedA may be
// used by many goroutines at once. Its layout belongs to the micro-kernel
// active when it was packed.
type PackedA struct {
	m, k int
	kern *kernel
	data []float32
	bl   blocking // mc and kc as packed
	offs []int    // start in data of block (kc block pb, mc block ib) at pb*nmc+ib
	nmc  int      // number of mc blocks
}

// PackA packs op(A), an m×k matrix (stored k×m when transA) with row
// stride lda, for PackedA.Mul. It panics on a too-short a or a bad stride,
// like Sgemm.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	checkDims(m, 0, k)
	checkMatrix("A", transA, m, k, a, lda)
	kn := active
	bl := kn.blockingFor(m, 0, k)
	p := &PackedA{m: m, k: k, kern: kn, bl: bl, nmc: (m + bl.mc - 1) / bl.mc}
	size := 0
	for pc := 0; pc < k; pc += bl.kc {
		kc := min(bl.kc, k-pc)
		for ic := 0; ic < m; ic += bl.mc {
			p.offs = append(p.offs, size)
			size += packedSize(min(bl.mc, m-ic), kc, kn.mr)
		}
	}
	p.data = make([]float32, size)
	i := 0
	for pc := 0; pc < k; pc += bl.kc {
		kc := min(bl.kc, k-pc)
		for ic := 0; ic < m; ic += bl.mc {
			mc := min(bl.mc, m-ic)
			kn.packA(p.data[p.offs[i]:], transA, a, lda, ic, mc, pc, kc, kn.mr)
			i++
		}
	}
	return p
}

// M reports the number of rows of the packed op(A).
func (p *PackedA) M() int { return p.m }

// K reports the number of columns of the packed op(A).
func (p *PackedA) K() int { return p.k }

// panels returns the packed A from row r (a multiple of mr) to the end of
// its mc block, columns [pc, pc+kc) of the kc block starting at pc.
func (p *PackedA) panels(r, pc int) []float32 {
	kc := min(p.bl.kc, p.k-pc)
	return p.data[p.offs[pc/p.bl.kc*p.nmc+r/p.bl.mc]+r%p.bl.mc/p.kern.mr*kc*p.kern.mr:]
}

// Mul computes C = alpha*A*B + beta*C with A the packed m×k matrix, B a k×n
// row-major matrix with row stride ldb, and C m×n with row stride ldc. It
// has Sgemm's semantics (beta 0 ignores C's contents) and threading.
func (p *PackedA) Mul(n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkDims(p.m, n, p.k)
	checkMatrix("C", false, p.m, n, c, ldc)
	if p.m == 0 || n == 0 {
		return
	}
	if alpha == 0 || p.k == 0 {
		scaleC(p.m, n, beta, c, ldc)
		return
	}
	checkMatrix("B", false, p.k, n, b, ldb)
	q := problem{
		kern: p.kern, m: p.m, n: n, k: p.k, alpha: alpha, beta: beta,
		b: b, ldb: ldb, c: c, ldc: ldc, pa: p,
	}
	q.run()
}
