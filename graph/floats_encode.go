package graph

import (
	"math"
	"sort"
)

// Float8Encoder returns the function that converts a float32 to the bit
// pattern of an 8-bit float type (FLOAT8E4M3FN, FLOAT8E4M3FNUZ,
// FLOAT8E5M2, FLOAT8E5M2FNUZ), or nil for any other type.
//
// Values round to the nearest representable value, ties to the even bit
// pattern. With saturate, values beyond the largest finite value
// (infinities included) become that value with their sign; without it
// they become infinity for E5M2 and NaN for the other types, as the ONNX
// Cast table specifies. NaN stays NaN. Types without negative zero (the
// FNUZ ones) map -0 and negative values that round to zero to +0.
func Float8Encoder(dt DType, saturate bool) func(float32) uint8 {
	dec := Float8Decoder(dt)
	if dec == nil || dt == Float4E2M1 || dt == Float8E8M0 {
		return nil
	}
	// The positive finite patterns in increasing order of value (for these
	// formats value grows with the pattern).
	var pats []uint8
	var vals []float64
	for p := 0; p < 0x80; p++ {
		v := float64(dec(uint8(p)))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		pats = append(pats, uint8(p))
		vals = append(vals, v)
	}
	maxV := vals[len(vals)-1]
	ulp := maxV - vals[len(vals)-2]
	uz := dt == Float8E4M3FNUZ || dt == Float8E5M2FNUZ
	var nan, inf uint8
	switch dt {
	case Float8E4M3FN:
		nan = 0x7f
	case Float8E5M2:
		nan, inf = 0x7f, 0x7c
	default:
		nan = 0x80
	}
	return func(f float32) uint8 {
		x := float64(f)
		neg := math.Signbit(x)
		sign := uint8(0)
		if neg {
			sign = 0x80
		}
		if math.IsNaN(x) {
			if uz {
				return nan
			}
			return nan | sign
		}
		a := math.Abs(x)
		var p uint8
		switch {
		case a > maxV:
			// Round in an unbounded format: up to half an ulp above the
			// largest value rounds down to it (ties to even).
			tie := a == maxV+ulp/2
			if a < maxV+ulp/2 || tie && pats[len(pats)-1]&1 == 0 || saturate {
				p = pats[len(pats)-1]
			} else if dt == Float8E5M2 {
				return inf | sign
			} else if uz {
				return nan
			} else {
				return nan | sign
			}
		default:
			i := sort.SearchFloat64s(vals, a) // first vals[i] >= a
			switch {
			case vals[i] == a:
				p = pats[i]
			default:
				lo, hi := vals[i-1], vals[i]
				switch d := (a - lo) - (hi - a); {
				case d < 0:
					p = pats[i-1]
				case d > 0:
					p = pats[i]
				case pats[i-1]&1 == 0:
					p = pats[i-1]
				default:
					p = pats[i]
				}
			}
		}
		if p == 0 && uz {
			return 0 // no negative zero: 0x80 is NaN
		}
		return p | sign
	}
}
