package gemm

// problem is one GEMM (or one thread's part of it): C = alpha*op(A)*op(B) +
// beta*C with C m×n. When pa is set, op(A) is rows [aRow0, aRow0+m) of the
// pre-packed pa and a/lda/transA are unused; likewise op(B) is columns
// [bCol0, bCol0+n) of pb when pb is set. aRow0 and bCol0 are multiples of
// the tile (mr, nr).
type problem struct {
	kern           *kernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	pa             *PackedA
	pb             *PackedB
	aRow0, bCol0   int
}

// runSerial computes the problem on the calling goroutine with the
// Goto/BLIS loop nest: for each kc×nc block of B (packed), for each mc×kc
// block of A (packed), a macro-kernel over mr×nr tiles.
func (p *problem) runSerial() {
	ws := workspaces.Get().(*workspace)
	defer workspaces.Put(ws)
	kn := p.kern
	bl := kn.blockingFor(p.m, p.n, p.k)
	if p.pa != nil {
		bl.mc, bl.kc = p.pa.bl.mc, p.pa.bl.kc
	}
	if p.pb != nil {
		bl.nc, bl.kc = p.pb.bl.nc, p.pb.bl.kc
	}
	tmp := ws.tmp.get(kn.mr * kn.nr)
	for jc, nc := 0, 0; jc < p.n; jc += nc {
		nc = min(bl.nc, p.n-jc)
		if p.pb != nil { // stay within one packed block
			col := p.bCol0 + jc
			nc = min(nc, (col/bl.nc+1)*bl.nc-col)
		}
		for pc := 0; pc < p.k; pc += bl.kc {
			kc := min(bl.kc, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			var bp []float32
			if p.pb != nil {
				bp = p.pb.panels(p.bCol0+jc, pc)
			} else {
				bp = ws.b.get(packedSize(nc, kc, kn.nr))
				kn.packB(bp, p.transB, p.b, p.ldb, pc, kc, jc, nc, kn.nr)
			}
			for ic, mc := 0, 0; ic < p.m; ic += mc {
				mc = min(bl.mc, p.m-ic)
				var ap []float32
				if p.pa != nil { // stay within one packed block
					row := p.aRow0 + ic
					mc = min(mc, (row/bl.mc+1)*bl.mc-row)
					ap = p.pa.panels(row, pc)
				} else {
					ap = ws.a.get(packedSize(mc, kc, kn.mr))
					kn.packA(ap, p.transA, p.a, p.lda, ic, mc, pc, kc, kn.mr)
				}
				macroKernel(kn, mc, nc, kc, ap, bp, p.c[ic*p.ldc+jc:], p.ldc, p.alpha, beta, tmp)
			}
		}
	}
}

// macroKernel multiplies a packed mc×kc A block by a packed kc×nc B block
// into C (mc×nc at c, row stride ldc), tile by tile. Edge tiles use the
// kernel's edge function or go through tmp, so nothing outside C is written.
func macroKernel(kn *kernel, mc, nc, kc int, ap, bp, c []float32, ldc int, alpha, beta float32, tmp []float32) {
	mr, nr := kn.mr, kn.nr
	for jr := 0; jr < nc; jr += nr {
		nrEff := min(nr, nc-jr)
		bpan := &bp[(jr/nr)*kc*nr]
		for ir := 0; ir < mc; ir += mr {
			mrEff := min(mr, mc-ir)
			apan := &ap[(ir/mr)*kc*mr]
			if mrEff == mr && nrEff == nr {
				_ = c[(ir+mr-1)*ldc+jr+nr-1] // the kernel writes up to here
				kn.fn(kc, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta)
				continue
			}
			if kn.edge != nil {
				_ = c[(ir+mrEff-1)*ldc+jr+nrEff-1]
				kn.edge(kc, apan, bpan, &c[ir*ldc+jr], ldc, alpha, beta, mrEff, nrEff)
				continue
			}
			kn.fn(kc, apan, bpan, &tmp[0], nr, alpha, 0)
			for r := range mrEff {
				crow := c[(ir+r)*ldc+jr:][:nrEff]
				trow := tmp[r*nr:][:nrEff]
				if beta == 0 {
					copy(crow, trow)
				} else {
					for j, v := range trow {
						crow[j] = v + beta*crow[j]
					}
				}
			}
		}
	}
}

// scaleC sets C = beta*C (C = 0 when beta is 0, ignoring NaN in C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := range m {
		row := c[i*ldc:][:n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}
