//go:build amd64 && !purego

#include "textflag.h"

// func axpyAVX2(a float32, x, y []float32)
// y[i] += a*x[i] for i < len(y).
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS a+0(FP), Y0
	MOVQ x_base+8(FP), SI
	MOVQ y_base+32(FP), DI
	MOVQ y_len+40(FP), CX
axpy32:
	CMPQ CX, $32
	JLT axpy8
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VFMADD231PS 64(SI), Y0, Y3
	VFMADD231PS 96(SI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP axpy32
axpy8:
	CMPQ CX, $8
	JLT axpytail
	VMOVUPS (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP axpy8
axpytail:
	TESTQ CX, CX
	JEQ axpydone
	VMOVSS (SI), X1
	VMOVSS (DI), X2
	VFMADD231SS X1, X0, X2
	VMOVSS X2, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP axpytail
axpydone:
	VZEROUPPER
	RET

// func maxAVX2(dst, src []float32)
// dst[i] = max(dst[i], src[i]) for i < len(dst).
TEXT ·maxAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
max32:
	CMPQ CX, $32
	JLT max8
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VMAXPS (SI), Y1, Y1
	VMAXPS 32(SI), Y2, Y2
	VMAXPS 64(SI), Y3, Y3
	VMAXPS 96(SI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP max32
max8:
	CMPQ CX, $8
	JLT maxtail
	VMOVUPS (DI), Y1
	VMAXPS (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP max8
maxtail:
	TESTQ CX, CX
	JEQ maxdone
	VMOVSS (DI), X1
	VMAXSS (SI), X1, X1
	VMOVSS X1, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP maxtail
maxdone:
	VZEROUPPER
	RET

// func dotAVX2(x, y []float32) float32
// Σ x[i]*y[i] for i < len(x).
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
dot32:
	CMPQ CX, $32
	JLT dot8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP dot32
dot8:
	CMPQ CX, $8
	JLT dotsum
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP dot8
dotsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
dottail:
	TESTQ CX, CX
	JEQ dotdone
	VMOVSS (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP dottail
dotdone:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func dwRowAVX2(y []float32, x *float32, rowStride int, w *float32, kh, kw, dil int)
// y[o] += Σ_{i<kh, j<kw} w[i*kw+j] * x[o + i*rowStride + j*dil] for o < len(y):
// one output row of a stride-1 depthwise convolution, all taps at once.
// 32 outputs per step in four independent accumulators (one would wait on
// the FMA latency at every tap), then 8, then one at a time.
TEXT ·dwRowAVX2(SB), NOSPLIT, $0-72
	MOVQ y_base+0(FP), DI
	MOVQ y_len+8(FP), CX
	MOVQ x+24(FP), SI
	MOVQ rowStride+32(FP), R8
	SHLQ $2, R8
	MOVQ w+40(FP), R9
	MOVQ dil+64(FP), R12
	SHLQ $2, R12
dw32:
	CMPQ CX, $32
	JLT dw8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ SI, R13
	MOVQ R9, R10
	MOVQ kh+48(FP), AX
dwrow32:
	MOVQ R13, DX
	MOVQ kw+56(FP), BX
dwcol32:
	VBROADCASTSS (R10), Y4
	VFMADD231PS (DX), Y4, Y0
	VFMADD231PS 32(DX), Y4, Y1
	VFMADD231PS 64(DX), Y4, Y2
	VFMADD231PS 96(DX), Y4, Y3
	ADDQ $4, R10
	ADDQ R12, DX
	DECQ BX
	JNZ dwcol32
	ADDQ R8, R13
	DECQ AX
	JNZ dwrow32
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP dw32
dw8:
	CMPQ CX, $8
	JLT dwtail
	VMOVUPS (DI), Y0
	MOVQ SI, R13
	MOVQ R9, R10
	MOVQ kh+48(FP), AX
dwrow8:
	MOVQ R13, DX
	MOVQ kw+56(FP), BX
dwcol8:
	VBROADCASTSS (R10), Y1
	VFMADD231PS (DX), Y1, Y0
	ADDQ $4, R10
	ADDQ R12, DX
	DECQ BX
	JNZ dwcol8
	ADDQ R8, R13
	DECQ AX
	JNZ dwrow8
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP dw8
dwtail:
	TESTQ CX, CX
	JEQ dwdone
	VMOVSS (DI), X0
	MOVQ SI, R13
	MOVQ R9, R10
	MOVQ kh+48(FP), AX
dwrow1:
	MOVQ R13, DX
	MOVQ kw+56(FP), BX
dwcol1:
	VMOVSS (R10), X1
	VFMADD231SS (DX), X1, X0
	ADDQ $4, R10
	ADDQ R12, DX
	DECQ BX
	JNZ dwcol1
	ADDQ R8, R13
	DECQ AX
	JNZ dwrow1
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, SI
	DECQ CX
	JMP dwtail
dwdone:
	VZEROUPPER
	RET

// func deinterleave2AVX2(even, odd, src []float32)
// even[i] = src[2i], odd[i] = src[2i+1] for i < len(even) - len(even)%8;
// the caller does the rest.
TEXT ·deinterleave2AVX2(SB), NOSPLIT, $0-72
	MOVQ even_base+0(FP), DI
	MOVQ even_len+8(FP), CX
	MOVQ odd_base+24(FP), DX
	MOVQ src_base+48(FP), SI
di8:
	CMPQ CX, $8
	JLT didone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VPERMPD $0xD8, Y2, Y2
	VPERMPD $0xD8, Y3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, (DX)
	ADDQ $64, SI
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP di8
didone:
	VZEROUPPER
	RET
