package graph

import (
	"math"
	"testing"
)

// TestFloat8EncoderRoundTrip encodes every finite value of each float8
// type and expects its own bit pattern back (the unsigned-zero types map
// -0 to +0), and checks that midpoints round to the even pattern and
// overflow follows the saturate flag.
func TestFloat8EncoderRoundTrip(t *testing.T) {
	for _, dt := range []DType{Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ} {
		dec := Float8Decoder(dt)
		enc := Float8Encoder(dt, true)
		for p := 0; p < 256; p++ {
			v := dec(uint8(p))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				continue
			}
			if got := enc(v); got != uint8(p) && !(v == 0 && got == 0) {
				t.Errorf("%s: %g (0x%02x) encodes to 0x%02x", dt, v, p, got)
			}
		}
		// Midpoint between consecutive positive values goes to the even
		// pattern.
		for p := 1; p < 0x7e; p++ {
			a, b := dec(uint8(p)), dec(uint8(p+1))
			if math.IsNaN(float64(b)) || math.IsInf(float64(b), 0) {
				break
			}
			mid := float32((float64(a) + float64(b)) / 2)
			if float64(mid) != (float64(a)+float64(b))/2 {
				continue // not representable in float32
			}
			want := uint8(p)
			if p%2 == 1 {
				want = uint8(p + 1)
			}
			if got := enc(mid); got != want {
				t.Errorf("%s: midpoint %g of 0x%02x and 0x%02x encodes to 0x%02x, want 0x%02x", dt, mid, p, p+1, got, want)
			}
		}
	}
	big := float32(1e9)
	if got := Float8Encoder(Float8E4M3FN, true)(big); got != 0x7e {
		t.Errorf("E4M3FN saturating 1e9: 0x%02x, want 0x7e", got)
	}
	if got := Float8Encoder(Float8E4M3FN, false)(big); got != 0x7f {
		t.Errorf("E4M3FN non-saturating 1e9: 0x%02x, want NaN 0x7f", got)
	}
	if got := Float8Encoder(Float8E5M2, false)(-big); got != 0xfc {
		t.Errorf("E5M2 non-saturating -1e9: 0x%02x, want -Inf 0xfc", got)
	}
	if got := Float8Encoder(Float8E5M2FNUZ, true)(float32(math.Inf(-1))); got != 0xff {
		t.Errorf("E5M2FNUZ saturating -Inf: 0x%02x, want 0xff (-57344)", got)
	}
}
