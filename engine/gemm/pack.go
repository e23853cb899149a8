package gemm

// packA packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into
// ceil(mc/mr) micro-panels of mr*kc floats: panel q holds, for each p in
// order, the mr values op(A)[i0+q*mr+r][p0+p], zero past row mc.
func packA(dst []float32, transA bool, a []float32, lda, i0, mc, p0, kc, mr int) {
	for ir := 0; ir < mc; ir += mr {
		pan := dst[(ir/mr)*kc*mr:][:kc*mr]
		rows := min(mr, mc-ir)
		if transA {
			for p := range kc {
				copy(pan[p*mr:p*mr+rows], a[(p0+p)*lda+i0+ir:][:rows])
			}
		} else {
			for r := range rows {
				src := a[(i0+ir+r)*lda+p0:][:kc]
				for p, v := range src {
					pan[p*mr+r] = v
				}
			}
		}
		if rows < mr {
			for p := range kc {
				clear(pan[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packB packs rows [p0, p0+kc) and columns [j0, j0+nc) of op(B) into
// ceil(nc/nr) micro-panels of kc*nr floats: panel q holds, for each p in
// order, the nr values op(B)[p0+p][j0+q*nr+j], zero past column nc.
func packB(dst []float32, transB bool, b []float32, ldb, p0, kc, j0, nc, nr int) {
	for jr := 0; jr < nc; jr += nr {
		pan := dst[(jr/nr)*kc*nr:][:kc*nr]
		cols := min(nr, nc-jr)
		if transB {
			for j := range cols {
				src := b[(j0+jr+j)*ldb+p0:][:kc]
				for p, v := range src {
					pan[p*nr+j] = v
				}
			}
		} else {
			for p := range kc {
				copy(pan[p*nr:p*nr+cols], b[(p0+p)*ldb+j0+jr:][:cols])
			}
		}
		if cols < nr {
			for p := range kc {
				clear(pan[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// packedSize is the number of floats packA (with mr) or packB (with nr)
// writes for a block of rows×kc (A) or kc×cols (B).
func packedSize(rows, kc, mr int) int { return (rows + mr - 1) / mr * mr * kc }
