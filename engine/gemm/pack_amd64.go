//go:build amd64 && !purego

package gemm

// packTransAVX512 transposes up to 16 rows, 16 columns at a time
// (kernel_amd64.s, generated).
//
//go:noescape
func packTransAVX512(dst, src *float32, ld, k, rows, dstStride int, smask uint32)

// packCopyAVX512 copies up to 32 contiguous floats per k step (pack_amd64.s).
//
//go:noescape
func packCopyAVX512(dst, src *float32, k, srcStride, dstStride int, lmask, smask uint32)

// laneMask has the low n bits set (n <= 32).
func laneMask(n int) uint32 { return uint32(uint64(1)<<n - 1) }

// packAAVX512 is packA (same layout) with AVX-512 masked copies and
// in-register transposes, for mr <= 16.
func packAAVX512(dst []float32, transA bool, a []float32, lda, i0, mc, p0, kc, mr int) {
	smask := laneMask(mr)
	for ir := 0; ir < mc; ir += mr {
		pan := dst[(ir/mr)*kc*mr:][:kc*mr]
		rows := min(mr, mc-ir)
		if transA {
			// op(A)[i][p] = a[p*lda+i]: rows contiguous floats per p.
			src := a[p0*lda+i0+ir:]
			_ = src[(kc-1)*lda+rows-1]
			packCopyAVX512(&pan[0], &src[0], kc, lda, mr, laneMask(rows), smask)
			continue
		}
		// op(A)[i][p] = a[i*lda+p]: transpose rows×kc.
		src := a[(i0+ir)*lda+p0:]
		_ = src[(rows-1)*lda+kc-1]
		packTransAVX512(&pan[0], &src[0], lda, kc, rows, mr, smask)
	}
}

// packBAVX512 is packB (same layout) with AVX-512 masked copies and
// in-register transposes, for nr <= 32.
func packBAVX512(dst []float32, transB bool, b []float32, ldb, p0, kc, j0, nc, nr int) {
	smask := laneMask(nr)
	for jr := 0; jr < nc; jr += nr {
		pan := dst[(jr/nr)*kc*nr:][:kc*nr]
		cols := min(nr, nc-jr)
		if !transB {
			// op(B)[p][j] = b[p*ldb+j]: cols contiguous floats per p.
			src := b[p0*ldb+j0+jr:]
			_ = src[(kc-1)*ldb+cols-1]
			packCopyAVX512(&pan[0], &src[0], kc, ldb, nr, laneMask(cols), smask)
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]: transpose cols×kc, 16 rows of b at a
		// time into lanes [h, h+16) of the panel.
		src := b[(j0+jr)*ldb+p0:]
		_ = src[(cols-1)*ldb+kc-1]
		for h := 0; h < nr; h += 16 {
			lanes := laneMask(min(16, nr-h))
			if rows := min(16, cols-h); rows > 0 {
				packTransAVX512(&pan[h], &src[h*ldb], ldb, kc, rows, nr, lanes)
				continue
			}
			for p := range kc {
				clear(pan[p*nr+h : p*nr+min(h+16, nr)])
			}
		}
	}
}
