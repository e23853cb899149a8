package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// FoldConstantLayout evaluates layout-only operators (Reshape, Flatten,
// Squeeze, Unsqueeze, Transpose, Identity) and ConstantOfShape whose
// inputs are all constants, replacing them by initializers. Exporters often store a
// weight in one layout and reshape it at run time (mnist-7 reshapes its
// MatMul weight); folding makes such weights visible to the quantizer.
// Only data is moved, never computed, so the pass needs no engine.
var FoldConstantLayout = Pass{Name: "fold-constant-layout", Apply: foldConstantLayout}

// layoutFolds maps an op type to the function computing its output from
// constant inputs.
var layoutFolds = map[string]func(n *graph.Node, opset int64) (*graph.Tensor, error){
	"Reshape":         foldReshape,
	"Flatten":         foldFlatten,
	"Squeeze":         foldSqueeze,
	"Unsqueeze":       foldUnsqueeze,
	"Transpose":       foldTranspose,
	"Identity":        func(n *graph.Node, _ int64) (*graph.Tensor, error) { return n.Inputs[0].Const, nil },
	"ConstantOfShape": foldConstantOfShape,
}

// maxFoldElements bounds the tensors constant folding creates, so that a
// model asking for a huge ConstantOfShape does not blow up in memory.
const maxFoldElements = 1 << 24

func foldConstantOfShape(n *graph.Node, _ int64) (*graph.Tensor, error) {
	dims, err := n.Inputs[0].Const.Int64s()
	if err != nil {
		return nil, err
	}
	count := int64(1)
	for _, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("ConstantOfShape dim %d is negative", d)
		}
		count *= d
		if count > maxFoldElements {
			return nil, fmt.Errorf("ConstantOfShape of %v is too large to fold", dims)
		}
	}
	fill := graph.MustTensor(graph.Float, []int64{1}, []float32{0})
	if v, err := n.AttrTensor("value"); err != nil {
		return nil, err
	} else if v != nil {
		fill = v
	}
	out := graph.Zeros(fill.DType, dims)
	for i := 0; i < out.Len(); i++ {
		copyElem(out.Data, i, fill.Data, 0)
	}
	return out, nil
}

func foldConstantLayout(m *graph.Model, log *Log) error {
	opset := m.Opset("")
	for _, g := range m.Graph.Graphs() {
		dead := map[*graph.Node]bool{}
		for _, n := range g.Nodes {
			fold, ok := layoutFolds[n.OpType]
			if !ok || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Outputs) != 1 || n.Outputs[0] == nil || n.Outputs[0].IsGraphOutput() {
				continue
			}
			allConst := len(n.Inputs) > 0
			for _, v := range n.Inputs {
				if v != nil && !v.IsConst() {
					allConst = false
				}
			}
			if !allConst {
				continue
			}
			t, err := fold(n, opset)
			if err != nil {
				return fmt.Errorf("node %s: %w", n.Label(), err)
			}
			out := n.Outputs[0]
			g.SetConst(out, t)
			dead[n] = true
		}
		if len(dead) > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: folded %d layout operators on constants", g.Name, len(dead))
		}
	}
	return removeDeadNodes(m, &Log{})
}

func reshaped(t *graph.Tensor, shape []int64) *graph.Tensor {
	return graph.MustTensor(t.DType, shape, t.Data)
}

func foldReshape(n *graph.Node, _ int64) (*graph.Tensor, error) {
	x := n.Inputs[0].Const
	if len(n.Inputs) < 2 {
		return nil, fmt.Errorf("Reshape needs a shape input")
	}
	spec, err := n.Inputs[1].Const.Int64s()
	if err != nil {
		return nil, err
	}
	allowZero := n.AttrInt("allowzero", 0) == 1
	shape := make([]int64, len(spec))
	known, infer := int64(1), -1
	for i, d := range spec {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.Shape) {
				return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d tensor", spec, i, len(x.Shape))
			}
			shape[i] = x.Shape[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1 dims", spec)
			}
			infer = i
			continue
		case d < -1:
			return nil, fmt.Errorf("shape %v has a negative dim", spec)
		default:
			shape[i] = d
		}
		known *= shape[i]
	}
	total := int64(x.Len())
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x.Shape, spec)
		}
		shape[infer] = total / known
		known *= shape[infer]
	}
	if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x.Shape, total, spec)
	}
	return reshaped(x, shape), nil
}

func normAxis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis out of range for rank %d", rank)
	}
	return int(a), nil
}

func foldFlatten(n *graph.Node, _ int64) (*graph.Tensor, error) {
	x := n.Inputs[0].Const
	axis := n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(x.Rank())
	}
	if axis < 0 || axis > int64(x.Rank()) {
		return nil, fmt.Errorf("Flatten axis %d out of range", axis)
	}
	a, b := int64(1), int64(1)
	for i, d := range x.Shape {
		if int64(i) < axis {
			a *= d
		} else {
			b *= d
		}
	}
	return reshaped(x, []int64{a, b}), nil
}

func axesOf(n *graph.Node, opset int64) ([]int64, error) {
	if opset >= 13 && len(n.Inputs) > 1 && n.Inputs[1] != nil {
		return n.Inputs[1].Const.Int64s()
	}
	return n.AttrInts("axes", nil), nil
}

func foldSqueeze(n *graph.Node, opset int64) (*graph.Tensor, error) {
	x := n.Inputs[0].Const
	axes, err := axesOf(n, opset)
	if err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for _, a := range axes {
		i, err := normAxis(a, x.Rank())
		if err != nil {
			return nil, err
		}
		if x.Shape[i] != 1 {
			return nil, fmt.Errorf("cannot squeeze dim %d of size %d", i, x.Shape[i])
		}
		drop[i] = true
	}
	var shape []int64
	for i, d := range x.Shape {
		if (len(axes) == 0 && d == 1) || drop[i] {
			continue
		}
		shape = append(shape, d)
	}
	return reshaped(x, shape), nil
}

func foldUnsqueeze(n *graph.Node, opset int64) (*graph.Tensor, error) {
	x := n.Inputs[0].Const
	axes, err := axesOf(n, opset)
	if err != nil {
		return nil, err
	}
	rank := x.Rank() + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		i, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		ins[i] = true
	}
	shape := make([]int64, 0, rank)
	j := 0
	for i := 0; i < rank; i++ {
		if ins[i] {
			shape = append(shape, 1)
		} else {
			shape = append(shape, x.Shape[j])
			j++
		}
	}
	return reshaped(x, shape), nil
}

func foldTranspose(n *graph.Node, _ int64) (*graph.Tensor, error) {
	x := n.Inputs[0].Const
	r := x.Rank()
	perm := n.AttrInts("perm", nil)
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v does not match rank %d", perm, r)
	}
	shape := make([]int64, r)
	for i, p := range perm {
		if p < 0 || int(p) >= r {
			return nil, fmt.Errorf("perm %v is invalid", perm)
		}
		shape[i] = x.Shape[p]
	}
	// strides of the input
	strides := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		strides[i] = s
		s *= int(x.Shape[i])
	}
	out := graph.Zeros(x.DType, shape)
	idx := make([]int, r)
	n2 := out.Len()
	for o := 0; o < n2; o++ {
		src := 0
		for i := 0; i < r; i++ {
			src += idx[i] * strides[perm[i]]
		}
		copyElem(out.Data, o, x.Data, src)
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < int(shape[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

func copyElem(dst any, i int, src any, j int) {
	switch d := dst.(type) {
	case []float32:
		d[i] = src.([]float32)[j]
	case []int64:
		d[i] = src.([]int64)[j]
	case []int32:
		d[i] = src.([]int32)[j]
	case []int8:
		d[i] = src.([]int8)[j]
	case []uint8:
		d[i] = src.([]uint8)[j]
	case []float64:
		d[i] = src.([]float64)[j]
	case []uint16:
		d[i] = src.([]uint16)[j]
	case []int16:
		d[i] = src.([]int16)[j]
	case []bool:
		d[i] = src.([]bool)[j]
	default:
		panic(fmt.Sprintf("rewrite: transpose of %T", dst))
	}
}

// FuseConvBias moves a constant per-channel Add after a bias-free Conv
// into the Conv's bias input (mnist-7 and CNTK exports keep them apart),
// so that the bias is quantized to int32 with the Conv.
var FuseConvBias = Pass{Name: "fuse-conv-bias", Apply: fuseConvBias}

func fuseConvBias(m *graph.Model, log *Log) error {
	for _, g := range m.Graph.Graphs() {
		uses := m.Graph.UseMap()
		nm := graph.NewNamer(m.Graph)
		dead := map[*graph.Node]bool{}
		for _, add := range g.Nodes {
			if add.OpType != "Add" || len(add.Inputs) != 2 {
				continue
			}
			for k := 0; k < 2; k++ {
				x, b := add.Inputs[k], add.Inputs[1-k]
				conv := x.Producer
				if conv == nil || conv.OpType != "Conv" || conv.Graph != g || len(conv.Inputs) > 2 && conv.Inputs[2] != nil || !b.IsConst() || len(uses[x]) != 1 || x.IsGraphOutput() || !conv.Input(1).IsConst() || b.Const.DType != graph.Float {
					continue
				}
				w := conv.Input(1).Const
				ch := w.Shape[0]
				rank := w.Rank() // conv output rank equals weight rank
				if !perChannelShape(b.Const.Shape, ch, rank) {
					continue
				}
				bias := graph.MustTensor(graph.Float, []int64{ch}, append([]float32{}, b.Const.Data.([]float32)...))
				bv := g.AddInitializer(nm, b.Name+"_bias", bias)
				conv.Inputs = []*graph.Value{conv.Inputs[0], conv.Inputs[1], bv}
				out := add.Outputs[0]
				conv.Outputs[0] = out
				out.Producer, out.Index = conv, 0
				dead[add] = true
				break
			}
		}
		if len(dead) > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: moved %d constant Adds into Conv biases", g.Name, len(dead))
		}
	}
	return removeDeadNodes(m, &Log{})
}

// perChannelShape reports whether shape broadcasts as one value per channel
// of an NC... output of the given rank: [C,1,...], [1,C,1,...] or [C] for
// rank 2.
func perChannelShape(shape []int64, ch int64, rank int) bool {
	for len(shape) > rank-1 && len(shape) > 0 && shape[0] == 1 && len(shape) == rank {
		shape = shape[1:]
	}
	if len(shape) == 0 || len(shape) > rank-1 || shape[0] != ch {
		return false
	}
	for _, d := range shape[1:] {
		if d != 1 {
			return false
		}
	}
	return len(shape) == rank-1
}

// FuseMatMulAdd turns MatMul(A, W) + B, with A of rank 2, W a constant
// [K, N] and B a constant of N values ([N] or [1, N]), into one Gemm with
// bias B, so the bias is quantized to int32 with the weight (and runtimes
// run one integer kernel). A's rank must be known (graph.InferShapes).
var FuseMatMulAdd = Pass{Name: "fuse-matmul-add", Apply: fuseMatMulAdd}

func fuseMatMulAdd(m *graph.Model, log *Log) error {
	for _, g := range m.Graph.Graphs() {
		uses := m.Graph.UseMap()
		nm := graph.NewNamer(m.Graph)
		dead := map[*graph.Node]bool{}
		for _, add := range g.Nodes {
			if add.OpType != "Add" || len(add.Inputs) != 2 {
				continue
			}
			for k := 0; k < 2; k++ {
				x, b := add.Inputs[k], add.Inputs[1-k]
				mm := x.Producer
				if mm == nil || mm.OpType != "MatMul" || mm.Graph != g || !b.IsConst() || b.Const.DType != graph.Float || len(uses[x]) != 1 || x.IsGraphOutput() {
					continue
				}
				w := mm.Input(1)
				aDims, ok := mm.Input(0).Shape()
				if !ok || len(aDims) != 2 || !w.IsConst() || w.Const.Rank() != 2 || w.Const.DType != graph.Float {
					continue
				}
				n := w.Const.Shape[1]
				bs := b.Const.Shape
				if !(len(bs) == 1 && bs[0] == n || len(bs) == 2 && bs[0] == 1 && bs[1] == n) {
					continue
				}
				bias := g.AddInitializer(nm, b.Name+"_bias", graph.MustTensor(graph.Float, []int64{n}, b.Const.Data))
				out := add.Outputs[0]
				gemm := &graph.Node{Name: nm.Name(mm.Name + "_gemm"), OpType: "Gemm", Inputs: []*graph.Value{mm.Inputs[0], w, bias}, Outputs: []*graph.Value{out}, Graph: g}
				out.Producer, out.Index = gemm, 0
				// Put the Gemm where the Add was: its inputs are all computed by then.
				for i, nd := range g.Nodes {
					if nd == add {
						g.Nodes[i] = gemm
					}
				}
				dead[mm] = true
				break
			}
		}
		if len(dead) > 0 {
			g.RemoveNodes(dead)
			log.Changef("graph %q: fused %d MatMul + Add pairs into Gemm", g.Name, len(dead))
		}
	}
	return removeDeadNodes(m, &Log{})
}
