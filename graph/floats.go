package graph

import "math"

// Float16ToFloat32 converts IEEE 754 half-precision bits to float32.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = mant * 2^-24
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float32ToFloat16 converts to half precision, rounding to nearest even;
// values too large become infinity.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++
	}
	return sign | uint16(r)
}

// BFloat16ToFloat32 converts bfloat16 bits to float32.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 converts to bfloat16, rounding to nearest even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// Float8Decoder returns the function that converts the bit pattern of an
// 8-bit (or 4-bit) float type to float32, or nil if dt is not one.
func Float8Decoder(dt DType) func(uint8) float32 {
	switch dt {
	case Float8E4M3FN:
		return func(b uint8) float32 { return minifloat(b, 4, 3, 7, false, true) }
	case Float8E4M3FNUZ:
		return func(b uint8) float32 { return minifloat(b, 4, 3, 8, true, true) }
	case Float8E5M2:
		return func(b uint8) float32 { return minifloat(b, 5, 2, 15, false, false) }
	case Float8E5M2FNUZ:
		return func(b uint8) float32 { return minifloat(b, 5, 2, 16, true, true) }
	case Float4E2M1:
		return func(b uint8) float32 { return minifloat(b&0xf, 2, 1, 1, false, true) }
	case Float8E8M0:
		return func(b uint8) float32 {
			if b == 0xff {
				return float32(math.NaN())
			}
			return float32(math.Ldexp(1, int(b)-127))
		}
	}
	return nil
}

// minifloat decodes a small float with the given exponent and mantissa
// widths and bias. uz: no negative zero, 0x80 is the only NaN. fn: finite
// (no infinities; all-ones is NaN only with all-ones mantissa for E4M3FN).
func minifloat(b uint8, ebits, mbits uint, bias int, uz, fn bool) float32 {
	total := 1 + ebits + mbits
	signBit := uint8(1) << (total - 1)
	neg := b&signBit != 0
	exp := int(b>>mbits) & (1<<ebits - 1)
	mant := int(b) & (1<<mbits - 1)
	if uz {
		if b == signBit {
			return float32(math.NaN())
		}
	} else if ebits == 5 && exp == 31 { // E5M2: IEEE-like
		if mant == 0 {
			if neg {
				return float32(math.Inf(-1))
			}
			return float32(math.Inf(1))
		}
		return float32(math.NaN())
	} else if ebits == 4 && exp == 15 && mant == 7 { // E4M3FN NaN
		return float32(math.NaN())
	}
	var v float64
	if exp == 0 {
		v = math.Ldexp(float64(mant), 1-bias-int(mbits))
	} else {
		v = math.Ldexp(float64(mant|1<<mbits), exp-bias-int(mbits))
	}
	if neg {
		v = -v
	}
	return float32(v)
}
