package engine

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/graph"
)

// indexPlan describes an operator whose output elements are copies of
// elements of input 0: idx[i] is the input offset output element i reads.
// Transpose, Slice, Gather, Expand and Tile are index plans; their forward
// is a gather and their gradient the matching scatter-add.
type indexPlan func(ctx *Context, in []*graph.Tensor) (*view, error)

func planKernel(p indexPlan) Kernel {
	return func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
		if err := needInputs(in, 1); err != nil {
			return nil, err
		}
		v, err := p(ctx, in)
		if err != nil {
			return nil, err
		}
		return oneErr(v.applyIn(ctx, in[0]))
	}
}

// planGrad scatters the output gradient back: dx[idx[i]] += dy[i].
func planGrad(p indexPlan) Gradient {
	return func(ctx *Context, in, outs, dout []*graph.Tensor) ([]*graph.Tensor, error) {
		grads := make([]*graph.Tensor, len(in))
		if dout[0] == nil || !isFloatTensor(in[0]) {
			return grads, nil
		}
		v, err := p(ctx, in)
		if err != nil {
			return nil, err
		}
		idx := v.offsets()
		g, err := dout[0].Float32s()
		if err != nil {
			return nil, err
		}
		dx := make([]float32, in[0].Len())
		for i, j := range idx {
			dx[j] += g[i]
		}
		grads[0] = f32out(in[0].Shape, dx)
		return grads, nil
	}
}

func transposePlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	x := in[0]
	r := x.Rank()
	perm := ctx.Node.AttrInts("perm", nil)
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v does not fit rank %d", perm, r)
	}
	p, err := NormAxes(perm, r)
	if err != nil {
		return nil, fmt.Errorf("perm %v: %w", perm, err)
	}
	st := Strides(x.Shape)
	shape := make([]int64, r)
	pst := make([]int, r)
	for i, a := range p {
		shape[i] = x.Shape[a]
		pst[i] = st[a]
	}
	return &view{shape: shape, strides: pst}, nil
}

func expandPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	target, err := TensorInts(in[1], "shape")
	if err != nil {
		return nil, err
	}
	shape, err := BroadcastShape(in[0].Shape, target)
	if err != nil {
		return nil, err
	}
	if err := checkSize(shape); err != nil {
		return nil, err
	}
	return &view{shape: shape, strides: broadcastStrides(in[0].Shape, shape)}, nil
}

func tilePlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	reps, err := TensorInts(in[1], "repeats")
	if err != nil {
		return nil, err
	}
	if len(reps) != x.Rank() {
		return nil, fmt.Errorf("repeats has %d entries, input rank is %d", len(reps), x.Rank())
	}
	st := Strides(x.Shape)
	offs := []int{0}
	shape := make([]int64, x.Rank())
	for d, n := range x.Shape {
		if reps[d] < 0 {
			return nil, fmt.Errorf("repeats %v has a negative entry", reps)
		}
		shape[d] = n * reps[d]
		if err := checkSize(shape[:d+1]); err != nil {
			return nil, err
		}
		next := make([]int, 0, len(offs)*int(shape[d]))
		for _, o := range offs {
			for i := 0; i < int(shape[d]); i++ {
				next = append(next, o+(i%int(n))*st[d])
			}
		}
		offs = next
	}
	return &view{shape: shape, idx: offs}, nil
}

// sliceArgs reads Slice's starts, ends, axes and steps: attributes before
// opset 10 (no steps), inputs from 10 on.
func sliceArgs(ctx *Context, in []*graph.Tensor) (starts, ends, axes, steps []int64, err error) {
	if ctx.Opset < 10 {
		n := ctx.Node
		return n.AttrInts("starts", nil), n.AttrInts("ends", nil), n.AttrInts("axes", nil), nil, nil
	}
	if err = needInputs(in, 3); err != nil {
		return
	}
	if starts, err = TensorInts(in[1], "starts"); err != nil {
		return
	}
	if ends, err = TensorInts(in[2], "ends"); err != nil {
		return
	}
	if t := optIn(in, 3); t != nil {
		if axes, err = TensorInts(t, "axes"); err != nil {
			return
		}
	}
	if t := optIn(in, 4); t != nil {
		if steps, err = TensorInts(t, "steps"); err != nil {
			return
		}
	}
	return
}

func slicePlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	x := in[0]
	starts, ends, axes, steps, err := sliceArgs(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(ends) != len(starts) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps have different lengths")
	}
	r := x.Rank()
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	ax, err := NormAxes(axes, r)
	if err != nil {
		return nil, err
	}
	first := make([]int64, r)
	step := make([]int64, r)
	shape := append([]int64{}, x.Shape...)
	for d := range step {
		step[d] = 1
	}
	for i, a := range ax {
		s, e, st := starts[i], ends[i], int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, fmt.Errorf("slice step is 0 on axis %d", a)
		}
		n, count := x.Shape[a], int64(0)
		first[a], count = sliceRange(s, e, st, n)
		step[a] = st
		shape[a] = count
	}
	st := Strides(x.Shape)
	base := 0
	vst := make([]int, r)
	for d := range st {
		base += int(first[d]) * st[d]
		vst[d] = st[d] * int(step[d])
	}
	return &view{shape: shape, strides: vst, base: base}, nil
}

// sliceRange clamps one axis of a slice as the ONNX spec says and returns
// the first index and the element count.
func sliceRange(s, e, st, n int64) (first, count int64) {
	if s < 0 {
		s += n
	}
	if e < 0 {
		e += n
	}
	if st > 0 {
		s, e = min(max(s, 0), n), min(max(e, 0), n)
		if e > s {
			count = (e - s + st - 1) / st
		}
	} else {
		s, e = min(max(s, 0), n-1), min(max(e, -1), n-1)
		if s > e {
			count = (s - e - st - 1) / -st
		}
	}
	return s, count
}

func gatherPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() == 0 {
		return nil, fmt.Errorf("cannot gather from a scalar")
	}
	a, err := NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	ind, err := TensorInts(in[1], "indices")
	if err != nil {
		return nil, err
	}
	n := x.Shape[a]
	outer, inner := ShapeSize(x.Shape[:a]), ShapeSize(x.Shape[a+1:])
	shape := append(append(append([]int64{}, x.Shape[:a]...), in[1].Shape...), x.Shape[a+1:]...)
	idx := make([]int, 0, outer*len(ind)*inner)
	for o := 0; o < outer; o++ {
		for _, j := range ind {
			if j < -n || j >= n {
				return nil, fmt.Errorf("index %d is out of range for axis %d of size %d", j, a, n)
			}
			if j < 0 {
				j += n
			}
			base := (o*int(n) + int(j)) * inner
			for i := 0; i < inner; i++ {
				idx = append(idx, base+i)
			}
		}
	}
	return &view{shape: shape, idx: idx}, nil
}

// gatherElementsPlan is GatherElements: out[i][j][k] = x[i][idx[i][j][k]][k]
// along axis, output shaped like the indices.
func gatherElementsPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x, it := in[0], in[1]
	a, err := NormAxis(ctx.Node.AttrInt("axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	if it.Rank() != x.Rank() {
		return nil, fmt.Errorf("indices rank %d differs from data rank %d", it.Rank(), x.Rank())
	}
	ind, err := TensorInts(it, "indices")
	if err != nil {
		return nil, err
	}
	st := Strides(x.Shape)
	// Offsets of the index tensor's positions in the data, axis a excluded.
	vst := append([]int{}, st...)
	vst[a] = 0
	pos := stridedIndex(it.Shape, vst, 0)
	n := x.Shape[a]
	idx := make([]int, len(ind))
	for i, j := range ind {
		if j < -n || j >= n {
			return nil, fmt.Errorf("index %d is out of range for axis %d of size %d", j, a, n)
		}
		if j < 0 {
			j += n
		}
		idx[i] = pos[i] + int(j)*st[a]
	}
	return &view{shape: it.Shape, idx: idx}, nil
}

// gatherNDPlan is GatherND with batch_dims.
func gatherNDPlan(ctx *Context, in []*graph.Tensor) (*view, error) {
	if err := needInputs(in, 2); err != nil {
		return nil, err
	}
	x, it := in[0], in[1]
	b := int(ctx.Node.AttrInt("batch_dims", 0))
	ind, err := TensorInts(it, "indices")
	if err != nil {
		return nil, err
	}
	if it.Rank() < 1 || b >= it.Rank() || b >= x.Rank() {
		return nil, fmt.Errorf("batch_dims %d does not fit ranks %d and %d", b, x.Rank(), it.Rank())
	}
	k := int(it.Shape[it.Rank()-1])
	if b+k > x.Rank() {
		return nil, fmt.Errorf("index tuples of length %d with batch_dims %d exceed data rank %d", k, b, x.Rank())
	}
	batch := ShapeSize(x.Shape[:b])
	st := Strides(x.Shape)
	inner := ShapeSize(x.Shape[b+k:])
	tuples := len(ind) / max(k, 1)
	if k == 0 {
		tuples = ShapeSize(it.Shape[:it.Rank()-1])
	}
	perBatch := tuples / max(batch, 1)
	shape := append(append([]int64{}, it.Shape[:it.Rank()-1]...), x.Shape[b+k:]...)
	idx := make([]int, 0, tuples*inner)
	batchStride := 1
	if b > 0 {
		batchStride = st[b-1]
	}
	for t := 0; t < tuples; t++ {
		off := 0
		if b > 0 {
			off = (t / perBatch) * batchStride
		}
		for d := 0; d < k; d++ {
			j := ind[t*k+d]
			n := x.Shape[b+d]
			if j < -n || j >= n {
				return nil, fmt.Errorf("index %d is out of range for dim %d of size %d", j, b+d, n)
			}
			if j < 0 {
				j += n
			}
			off += int(j) * st[b+d]
		}
		for i := 0; i < inner; i++ {
			idx = append(idx, off+i)
		}
	}
	return &view{shape: shape, idx: idx}, nil
}

// rangeKernel is Range(start, limit, delta): ceil((limit-start)/delta)
// elements of the inputs' type.
func rangeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 3); err != nil {
		return nil, err
	}
	dt := in[0].DType
	if dt.IsInteger() {
		var v [3]int64
		for i := range v {
			x, err := TensorInts(in[i], "range bound")
			if err != nil || len(x) != 1 {
				return nil, fmt.Errorf("input %d must be one integer", i)
			}
			v[i] = x[0]
		}
		if v[2] == 0 {
			return nil, fmt.Errorf("delta is 0")
		}
		n := max(int64(math.Ceil(float64(v[1]-v[0])/float64(v[2]))), 0)
		if err := checkSize([]int64{n}); err != nil {
			return nil, err
		}
		r := make([]int64, n)
		for i := range r {
			r[i] = v[0] + int64(i)*v[2]
		}
		return oneErr(castInts(r, []int64{n}, dt))
	}
	var v [3]float64
	for i := range v {
		x, err := ScalarFloat(in[i], "range bound")
		if err != nil {
			return nil, err
		}
		v[i] = x
	}
	if v[2] == 0 {
		return nil, fmt.Errorf("delta is 0")
	}
	n := max(int64(math.Ceil((v[1]-v[0])/v[2])), 0)
	if err := checkSize([]int64{n}); err != nil {
		return nil, err
	}
	if dt == graph.Float {
		// Accumulate in float32 as the reference (start + i*delta in the
		// input type).
		s, d := float32(v[0]), float32(v[2])
		r := make([]float32, n)
		for i := range r {
			r[i] = s + float32(i)*d
		}
		return one(f32out([]int64{n}, r))
	}
	r := make([]float64, n)
	for i := range r {
		r[i] = v[0] + float64(i)*v[2]
	}
	return oneErr(castFloats(r, []int64{n}, dt, true))
}

func init() {
	for _, e := range []struct {
		name     string
		min, max int64
		plan     indexPlan
	}{
		{"Transpose", 1, 0, transposePlan},
		{"Expand", 8, 0, expandPlan},
		{"Tile", 6, 0, tilePlan},
		{"Slice", 1, 9, slicePlan},
		{"Slice", 10, 0, slicePlan},
		{"Gather", 1, 0, gatherPlan},
		{"GatherElements", 11, 0, gatherElementsPlan},
		{"GatherND", 11, 0, gatherNDPlan},
	} {
		Register(&Op{Type: e.name, MinOpset: e.min, MaxOpset: e.max, Forward: planKernel(e.plan), Backward: planGrad(e.plan)})
	}
	Register(&Op{Type: "Range", MinOpset: 11, Forward: rangeKernel})
}
