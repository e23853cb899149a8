package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// Signal operators of opset 17: window functions, DFT, STFT and the mel
// filter bank, computed in float64 by their textbook definitions (the DFT
// directly, O(n²) per signal).

// windowKernel builds a window of the given size: w[n] = f(2πn / N) with
// N = size when periodic (the default), size-1 otherwise.
func windowKernel(f func(x float64) float64) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		sv, err := TensorInts(in[0], "size")
		if err != nil || len(sv) != 1 || sv[0] < 0 {
			return nil, fmt.Errorf("size must be one non-negative integer")
		}
		size := sv[0]
		if err := checkSize([]int64{size}); err != nil {
			return nil, err
		}
		n := float64(size)
		if ctx.Node.AttrInt("periodic", 1) == 0 {
			n--
		}
		w := make([]float64, size)
		for i := range w {
			w[i] = f(2 * math.Pi * float64(i) / n)
		}
		return oneErr(castFloats(w, []int64{size}, graph.DType(ctx.Node.AttrInt("output_datatype", int64(graph.Float))), true))
	}
}

var windows = map[string]func(x float64) float64{
	"HannWindow":    func(x float64) float64 { return 0.5 - 0.5*math.Cos(x) },
	"HammingWindow": func(x float64) float64 { return 25.0/46 - (1-25.0/46)*math.Cos(x) },
	"BlackmanWindow": func(x float64) float64 {
		return 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
	},
}

// dft computes the DFT of length n of the complex signal re, im (length
// m, zero-padded or truncated to n), returning the first bins bins.
func dft(re, im []float64, n, bins int, inverse bool) (ore, oim []float64) {
	ore, oim = make([]float64, bins), make([]float64, bins)
	sign := -1.0
	if inverse {
		sign = 1
	}
	m := min(len(re), n)
	for k := 0; k < bins; k++ {
		var sr, si float64
		for t := 0; t < m; t++ {
			a := sign * 2 * math.Pi * float64((k*t)%n) / float64(n)
			c, s := math.Cos(a), math.Sin(a)
			sr += re[t]*c - im[t]*s
			si += re[t]*s + im[t]*c
		}
		if inverse {
			sr, si = sr/float64(n), si/float64(n)
		}
		ore[k], oim[k] = sr, si
	}
	return ore, oim
}

// dftKernel is DFT (opset 17): input [..., 1|2] (real or complex last
// dim), the transform along axis (default 1) of length dft_length
// (default: the axis size), inverse, onesided.
func dftKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	if r < 2 || (x.Shape[r-1] != 1 && x.Shape[r-1] != 2) {
		return nil, fmt.Errorf("input of shape %v must end in a real (1) or complex (2) dim", x.Shape)
	}
	a, err := NormAxis(ctx.Node.AttrInt("axis", 1), r-1)
	if err != nil {
		return nil, err
	}
	m := int(x.Shape[a])
	n := m
	if t := optIn(in, 1); t != nil {
		v, err := TensorInts(t, "dft_length")
		if err != nil || len(v) != 1 || v[0] <= 0 {
			return nil, fmt.Errorf("dft_length must be one positive integer")
		}
		n = int(v[0])
	}
	inverse := ctx.Node.AttrInt("inverse", 0) != 0
	bins := n
	if ctx.Node.AttrInt("onesided", 0) != 0 {
		bins = n/2 + 1
	}
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	cplx := int(x.Shape[r-1])
	outer, inner := ShapeSize(x.Shape[:a]), ShapeSize(x.Shape[a+1:r-1])
	shape := append([]int64{}, x.Shape...)
	shape[a], shape[r-1] = int64(bins), 2
	res := make([]float64, outer*bins*inner*2)
	re, im := make([]float64, m), make([]float64, m)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for t := 0; t < m; t++ {
				base := ((o*m+t)*inner + i) * cplx
				re[t] = v[base]
				im[t] = 0
				if cplx == 2 {
					im[t] = v[base+1]
				}
			}
			fr, fi := dft(re, im, n, bins, inverse)
			for k := 0; k < bins; k++ {
				base := ((o*bins+k)*inner + i) * 2
				res[base], res[base+1] = fr[k], fi[k]
			}
		}
	}
	return oneErr(castFloats(res, shape, x.DType, true))
}

// stftKernel is STFT: frames of frame_length every frame_step samples,
// multiplied by the window, each transformed (onesided by default).
// Output [batch, frames, bins, 2].
func stftKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() != 3 || (x.Shape[2] != 1 && x.Shape[2] != 2) {
		return nil, fmt.Errorf("signal of shape %v must be [batch, length, 1|2]", x.Shape)
	}
	sv, err := TensorInts(in[1], "frame_step")
	if err != nil || len(sv) != 1 || sv[0] <= 0 {
		return nil, fmt.Errorf("frame_step must be one positive integer")
	}
	step := int(sv[0])
	var window []float64
	if t := optIn(in, 2); t != nil {
		if window, err = toFloat64s(t); err != nil {
			return nil, err
		}
	}
	fl := len(window)
	if t := optIn(in, 3); t != nil {
		v, err := TensorInts(t, "frame_length")
		if err != nil || len(v) != 1 || v[0] <= 0 {
			return nil, fmt.Errorf("frame_length must be one positive integer")
		}
		fl = int(v[0])
	}
	if fl == 0 || window != nil && len(window) != fl {
		return nil, fmt.Errorf("frame length %d and window of %d values do not agree", fl, len(window))
	}
	length, cplx := int(x.Shape[1]), int(x.Shape[2])
	if fl > length {
		return nil, fmt.Errorf("frame length %d exceeds the signal length %d", fl, length)
	}
	frames := (length-fl)/step + 1
	bins := fl
	if ctx.Node.AttrInt("onesided", 1) != 0 {
		bins = fl/2 + 1
	}
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	batch := int(x.Shape[0])
	res := make([]float64, batch*frames*bins*2)
	re, im := make([]float64, fl), make([]float64, fl)
	for b := 0; b < batch; b++ {
		for f := 0; f < frames; f++ {
			for t := 0; t < fl; t++ {
				w := 1.0
				if window != nil {
					w = window[t]
				}
				base := (b*length + f*step + t) * cplx
				re[t], im[t] = v[base]*w, 0
				if cplx == 2 {
					im[t] = v[base+1] * w
				}
			}
			fr, fi := dft(re, im, fl, bins, false)
			for k := 0; k < bins; k++ {
				base := ((b*frames+f)*bins + k) * 2
				res[base], res[base+1] = fr[k], fi[k]
			}
		}
	}
	return oneErr(castFloats(res, []int64{int64(batch), int64(frames), int64(bins), 2}, x.DType, true))
}

// melWeightMatrixKernel is MelWeightMatrix, following the ONNX reference:
// num_mel_bins+2 points evenly spaced in mel between the edges (the step
// divides by the number of points), mapped to DFT bins with
// floor((dft_length+1)·f / sample_rate), and triangular filters between
// consecutive points. Output [dft_length/2+1, num_mel_bins].
func melWeightMatrixKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 5); err != nil {
		return nil, err
	}
	var iv [3]int64
	for i := range iv {
		v, err := TensorInts(in[i], "integer input")
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("input %d must be one integer", i)
		}
		iv[i] = v[0]
	}
	mels, dftLen, rate := int(iv[0]), int(iv[1]), float64(iv[2])
	lo, err := ScalarFloat(in[3], "lower_edge_hertz")
	if err != nil {
		return nil, err
	}
	hi, err := ScalarFloat(in[4], "upper_edge_hertz")
	if err != nil {
		return nil, err
	}
	if mels <= 0 || dftLen <= 0 || rate <= 0 {
		return nil, fmt.Errorf("num_mel_bins, dft_length and sample_rate must be positive")
	}
	spec := dftLen/2 + 1
	if err := checkSize([]int64{int64(spec), int64(mels)}); err != nil {
		return nil, err
	}
	toMel := func(f float64) float64 { return 2595 * math.Log10(1+f/700) }
	lm, hm := toMel(lo), toMel(hi)
	step := (hm - lm) / float64(mels+2)
	pts := make([]int, mels+2)
	for i := range pts {
		f := 700 * (math.Pow(10, (float64(i)*step+lm)/2595) - 1)
		pts[i] = int(math.Floor(float64(dftLen+1) * f / rate))
	}
	w := make([]float64, spec*mels)
	set := func(j, i int, v float64) error {
		if j < 0 || j >= spec {
			return fmt.Errorf("mel point %d falls outside the %d spectrogram bins", j, spec)
		}
		w[j*mels+i] = v
		return nil
	}
	for i := 0; i < mels; i++ {
		l, c, h := pts[i], pts[i+1], pts[i+2]
		if c == l {
			if err := set(c, i, 1); err != nil {
				return nil, err
			}
		} else {
			for j := l; j <= c; j++ {
				if err := set(j, i, float64(j-l)/float64(c-l)); err != nil {
					return nil, err
				}
			}
		}
		for j := c; j < h; j++ {
			if err := set(j, i, float64(h-j)/float64(h-c)); err != nil {
				return nil, err
			}
		}
	}
	return oneErr(castFloats(w, []int64{int64(spec), int64(mels)}, graph.DType(ctx.Node.AttrInt("output_datatype", int64(graph.Float))), true))
}

// detKernel is Det: the determinant of each trailing M×M matrix, by LU
// decomposition with partial pivoting in float64.
func detKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return nil, fmt.Errorf("input of shape %v must end in square matrices", x.Shape)
	}
	v, err := toFloat64s(x)
	if err != nil {
		return nil, err
	}
	m := int(x.Shape[r-1])
	count := ShapeSize(x.Shape[:r-2])
	res := make([]float64, count)
	a := make([]float64, m*m)
	for b := range res {
		copy(a, v[b*m*m:(b+1)*m*m])
		det := 1.0
		for c := 0; c < m; c++ {
			p := c
			for i := c + 1; i < m; i++ {
				if math.Abs(a[i*m+c]) > math.Abs(a[p*m+c]) {
					p = i
				}
			}
			if a[p*m+c] == 0 {
				det = 0
				break
			}
			if p != c {
				for j := 0; j < m; j++ {
					a[p*m+j], a[c*m+j] = a[c*m+j], a[p*m+j]
				}
				det = -det
			}
			det *= a[c*m+c]
			for i := c + 1; i < m; i++ {
				f := a[i*m+c] / a[c*m+c]
				for j := c; j < m; j++ {
					a[i*m+j] -= f * a[c*m+j]
				}
			}
		}
		res[b] = det
	}
	return oneErr(castFloats(res, x.Shape[:r-2], x.DType, true))
}

func init() {
	for name, f := range windows {
		Register(&Op{Type: name, MinOpset: 17, Forward: windowKernel(f)})
	}
	Register(&Op{Type: "DFT", MinOpset: 17, MaxOpset: 19, Forward: dftKernel})
	Register(&Op{Type: "STFT", MinOpset: 17, Forward: stftKernel})
	Register(&Op{Type: "MelWeightMatrix", MinOpset: 17, Forward: melWeightMatrixKernel})
	Register(&Op{Type: "Det", MinOpset: 11, Forward: detKernel})
}
