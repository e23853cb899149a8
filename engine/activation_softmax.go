package engine

import (
	"math"

	"github.com/onnxq/onnxq/graph"
)

// softmaxLayout splits a shape into (outer, n, inner) for the softmax
// family: from opset 13 the op normalizes along one axis (default -1);
// before, it coerces the input to 2-D at axis (default 1) and normalizes
// each row of the flattened trailing dims.
func softmaxLayout(ctx *Context, shape []int64) (outer, n, inner int, err error) {
	def := int64(-1)
	if ctx.Opset < 13 {
		def = 1
	}
	rank := len(shape)
	if rank == 0 {
		return 1, 1, 1, nil
	}
	ax, err := NormAxis(ctx.Node.AttrInt("axis", def), rank)
	if err != nil {
		return 0, 0, 0, err
	}
	outer = ShapeSize(shape[:ax])
	if ctx.Opset < 13 {
		return outer, ShapeSize(shape[ax:]), 1, nil
	}
	return outer, int(shape[ax]), ShapeSize(shape[ax+1:]), nil
}

// softmaxKind selects the member of the family.
type softmaxKind int

const (
	kindSoftmax softmaxKind = iota
	kindLogSoftmax
	kindHardmax
)

func softmaxKernel(kind softmaxKind) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		w, err := widenHalf(in[0])
		if err != nil {
			return nil, err
		}
		x, err := w.Float32s()
		if err != nil {
			return nil, err
		}
		outer, n, inner, err := softmaxLayout(ctx, in[0].Shape)
		if err != nil {
			return nil, err
		}
		// Hardmax writes only the ones; the others write every element.
		y := ctx.RawFloat32s(len(x))
		if kind == kindHardmax {
			y = ctx.Float32s(len(x))
		}
		ParallelFor(outer*inner, max(1, 4096/max(n, 1)), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				base := (r/inner)*n*inner + r%inner
				softmaxRow(kind, x, y, base, n, inner)
			}
		})
		r := f32out(in[0].Shape, y)
		if in[0].DType == graph.Double {
			return oneErr(CastTensor(r, graph.Double, true))
		}
		return one(narrowHalf(r, in[0].DType))
	}
}

// softmaxRow computes one row: elements base, base+stride, ... (n of them).
func softmaxRow(kind softmaxKind, x, y []float32, base, n, stride int) {
	m := float32(math.Inf(-1))
	arg := 0
	for i := 0; i < n; i++ {
		if v := x[base+i*stride]; v > m {
			m, arg = v, i
		}
	}
	if kind == kindHardmax {
		y[base+arg*stride] = 1 // first maximum, as numpy.argmax
		return
	}
	var sum float64
	for i := 0; i < n; i++ {
		e := math.Exp(float64(x[base+i*stride] - m))
		sum += e
		if kind == kindSoftmax {
			y[base+i*stride] = float32(e)
		}
	}
	if kind == kindSoftmax {
		inv := 1 / sum
		for i := 0; i < n; i++ {
			y[base+i*stride] = float32(float64(y[base+i*stride]) * inv)
		}
		return
	}
	ls := float32(math.Log(sum))
	for i := 0; i < n; i++ {
		y[base+i*stride] = x[base+i*stride] - m - ls
	}
}

// softmaxGrad: Softmax dx = y*(dy - sum(dy*y)); LogSoftmax dx = dy -
// exp(y)*sum(dy), sums along the normalized elements.
func softmaxGrad(kind softmaxKind) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		if dout[0] == nil {
			return []*graph.Tensor{nil}, nil
		}
		y, err := outs[0].Float32s()
		if err != nil {
			return nil, err
		}
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		outer, n, inner, err := softmaxLayout(ctx, in[0].Shape)
		if err != nil {
			return nil, err
		}
		dx := make([]float32, len(y))
		for r := 0; r < outer*inner; r++ {
			base := (r/inner)*n*inner + r%inner
			var s float64
			for i := 0; i < n; i++ {
				k := base + i*inner
				if kind == kindSoftmax {
					s += float64(g[k]) * float64(y[k])
				} else {
					s += float64(g[k])
				}
			}
			for i := 0; i < n; i++ {
				k := base + i*inner
				if kind == kindSoftmax {
					dx[k] = float32(float64(y[k]) * (float64(g[k]) - s))
				} else {
					dx[k] = float32(float64(g[k]) - math.Exp(float64(y[k]))*s)
				}
			}
		}
		return []*graph.Tensor{f32out(in[0].Shape, dx)}, nil
	}
}

func init() {
	for _, e := range []struct {
		name string
		kind softmaxKind
		grad bool
	}{{"Softmax", kindSoftmax, true}, {"LogSoftmax", kindLogSoftmax, true}, {"Hardmax", kindHardmax, false}} {
		for _, r := range [][2]int64{{1, 12}, {13, 0}} {
			op := &Op{Type: e.name, MinOpset: r[0], MaxOpset: r[1], Forward: softmaxKernel(e.kind)}
			if e.grad {
				op.Backward = softmaxGrad(e.kind)
			}
			Register(op)
		}
	}
}
