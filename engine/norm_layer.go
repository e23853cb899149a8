package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

func init() {
	Register(&Op{Type: "LayerNormalization", MinOpset: 17, Forward: layerNormForward, Backward: layerNormBackward})
}

// layerNormPlan splits X at axis into rows (the dims before) of d
// normalized elements, and maps each normalized position to its element
// of Scale and B (which broadcast to X.shape[axis:]).
type layerNormPlan struct {
	rows, d   int
	scaleIdx  []int
	biasIdx   []int
	statShape []int64 // shape of Mean and InvStdDev: X's with the normalized dims 1
	eps       float64
}

func newLayerNormPlan(n *graph.Node, in []*graph.Tensor) (*layerNormPlan, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("LayerNormalization needs inputs X and Scale")
	}
	shape := in[0].Shape
	r := int64(len(shape))
	axis := n.AttrInt("axis", -1)
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("axis %d is out of range for input of rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	norm := shape[axis:]
	p := &layerNormPlan{rows: volume64(shape[:axis]), d: volume64(norm), eps: float64(n.AttrFloat("epsilon", 1e-5))}
	var err error
	if p.scaleIdx, err = paramIndex(in[1].Shape, norm, "Scale"); err != nil {
		return nil, err
	}
	if len(in) > 2 && in[2] != nil {
		if p.biasIdx, err = paramIndex(in[2].Shape, norm, "B"); err != nil {
			return nil, err
		}
	}
	p.statShape = append([]int64{}, shape...)
	for i := axis; i < r; i++ {
		p.statShape[i] = 1
	}
	return p, nil
}

// paramIndex returns, per element of shape norm, the element of a
// parameter of shape ps broadcast (numpy-style, unidirectionally) to it.
func paramIndex(ps, norm []int64, what string) ([]int, error) {
	if len(ps) > len(norm) {
		return nil, fmt.Errorf("%s has shape %v, which does not broadcast to the normalized shape %v", what, ps, norm)
	}
	for i, d := range ps {
		if o := norm[len(norm)-len(ps)+i]; d != o && d != 1 {
			return nil, fmt.Errorf("%s has shape %v, which does not broadcast to the normalized shape %v", what, ps, norm)
		}
	}
	// batchOffsets maps broadcast index -> operand index for any shapes.
	return batchOffsets(ps, norm), nil
}

// layerNormForward computes LayerNormalization: per row,
// Y = (X - mean)/sqrt(var + epsilon)·Scale + B, and the optional Mean and
// InvStdDev outputs.
func layerNormForward(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, err := newLayerNormPlan(ctx.Node, in)
	if err != nil {
		return nil, err
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	scale, err := floatIn(in[1], "Scale")
	if err != nil {
		return nil, err
	}
	bias, err := optFloatIn(in, 2, "B")
	if err != nil {
		return nil, err
	}
	mean, inv := rowStats(x, p.rows, p.d, p.eps)
	y := make([]float32, len(x))
	ParallelFor(p.rows, max(1, 4096/max(1, p.d)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m, iv := mean[r], inv[r]
			row, out := x[r*p.d:(r+1)*p.d], y[r*p.d:(r+1)*p.d]
			for i, v := range row {
				o := (v - m) * iv * scale[p.scaleIdx[i]]
				if bias != nil {
					o += bias[p.biasIdx[i]]
				}
				out[i] = o
			}
		}
	})
	dt := in[0].DType
	// Mean and InvStdDev have the stash type (float32 by default).
	return []*graph.Tensor{floatOut(dt, in[0].Shape, y), floatOut(graph.Float, p.statShape, mean), floatOut(graph.Float, p.statShape, inv)}, nil
}

// layerNormBackward is the Gradient of LayerNormalization with respect to
// X, Scale and B, including what flows in through the Mean and InvStdDev
// outputs when they are used.
func layerNormBackward(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	grads := make([]*graph.Tensor, len(in))
	p, err := newLayerNormPlan(ctx.Node, in)
	if err != nil {
		return nil, err
	}
	x, err := floatIn(in[0], "input X")
	if err != nil {
		return nil, err
	}
	scale, err := floatIn(in[1], "Scale")
	if err != nil {
		return nil, err
	}
	douts := make([][]float32, 3)
	for k := 0; k < 3 && k < len(dout); k++ {
		if dout[k] != nil {
			if douts[k], err = floatIn(dout[k], "output gradient"); err != nil {
				return nil, err
			}
		}
	}
	mean, inv := rowStats(x, p.rows, p.d, p.eps)
	dx := make([]float32, len(x))
	dscale := make([]float32, len(scale))
	var dbias []float32
	if len(in) > 2 && in[2] != nil {
		dbias = make([]float32, in[2].Len())
	}
	g := make([]float32, p.d)
	for r := 0; r < p.rows; r++ {
		row := x[r*p.d : (r+1)*p.d]
		clear(g)
		if dy := douts[0]; dy != nil {
			dyr := dy[r*p.d : (r+1)*p.d]
			for i, v := range dyr {
				g[i] = v * scale[p.scaleIdx[i]]
				dscale[p.scaleIdx[i]] += v * (row[i] - mean[r]) * inv[r]
				if dbias != nil {
					dbias[p.biasIdx[i]] += v
				}
			}
		}
		var dm, di float32
		if douts[1] != nil {
			dm = douts[1][r]
		}
		if douts[2] != nil {
			di = douts[2][r]
		}
		rowNormBackward(row, g, dx[r*p.d:(r+1)*p.d], mean[r], inv[r], dm, di)
	}
	grads[0] = floatOut(in[0].DType, in[0].Shape, dx)
	grads[1] = floatOut(in[1].DType, in[1].Shape, dscale)
	if dbias != nil {
		grads[2] = floatOut(in[2].DType, in[2].Shape, dbias)
	}
	return grads, nil
}
