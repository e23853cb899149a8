package engine

import "math"

// rowStats returns, for x viewed as rows of d elements, each row's mean
// and inverse standard deviation 1/sqrt(var + eps) (population variance),
// accumulated in float64.
func rowStats(x []float32, rows, d int, eps float64) (mean, inv []float32) {
	mean, inv = make([]float32, rows), make([]float32, rows)
	ParallelFor(rows, max(1, 4096/max(1, d)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*d : (r+1)*d]
			var s float64
			for _, v := range row {
				s += float64(v)
			}
			m := s / float64(d)
			var q float64
			for _, v := range row {
				dv := float64(v) - m
				q += dv * dv
			}
			mean[r] = float32(m)
			inv[r] = float32(1 / math.Sqrt(q/float64(d)+eps))
		}
	})
	return mean, inv
}

// rowNormBackward computes the gradient of a row normalization
//
//	y = xhat·scale + bias,  xhat = (x - mean)·inv
//
// for one row: dx from dy (the scale already applied: g = dy·scale), plus
// the gradients flowing into the mean and inv outputs (dMean, dInv; 0 when
// unused):
//
//	dx = inv·(g - mean(g) - xhat·mean(g·xhat)) + dMean/d - dInv·inv²·xhat/d.
func rowNormBackward(x, g, dx []float32, mean, inv, dMean, dInv float32) {
	d := float64(len(x))
	var sg, sgx float64
	for i, v := range x {
		xh := float64((v - mean) * inv)
		sg += float64(g[i])
		sgx += float64(g[i]) * xh
	}
	mg, mgx := sg/d, sgx/d
	iv := float64(inv)
	for i, v := range x {
		xh := float64((v - mean) * inv)
		dx[i] = float32(iv*(float64(g[i])-mg-xh*mgx) + float64(dMean)/d - float64(dInv)*iv*iv*xh/d)
	}
}
