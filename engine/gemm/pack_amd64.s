//go:build amd64 && !purego

#include "textflag.h"

// func packCopyAVX512(dst, src *float32, k, srcStride, dstStride int, lmask, smask uint32)
// For p in [0, k): lane l (of 32) of row p of dst (dstStride floats apart)
// gets src[p*srcStride+l] if bit l of lmask is set, else 0; only the lanes
// in smask are stored.
TEXT ·packCopyAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ k+16(FP), CX
	MOVQ srcStride+24(FP), R11
	SHLQ $2, R11
	MOVQ dstStride+32(FP), DX
	SHLQ $2, DX
	MOVL lmask+40(FP), R8
	MOVL smask+44(FP), R9
	KMOVW R8, K1
	SHRL  $16, R8
	KMOVW R8, K2
	KMOVW R9, K3
	SHRL  $16, R9
	KMOVW R9, K4
	TESTQ CX, CX
	JZ    cdone

cloop:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	ADDQ R11, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  cloop

cdone:
	VZEROUPPER
	RET
