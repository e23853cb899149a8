package engine

import (
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// constCache keeps the decoded tensor of each Constant node's attribute,
// so that models holding their weights in Constant nodes do not decode
// them on every run. Entries are keyed weakly by the attribute message
// and dropped when it is collected.
var constCache sync.Map // weak.Pointer[onnxpb.AttributeProto] -> *graph.Tensor

// constantValue decodes the one value attribute of a Constant node.
func constantValue(n *graph.Node) (*graph.Tensor, error) {
	var attr *onnxpb.AttributeProto
	for _, a := range n.Attrs {
		if constDecoders[a.GetName()] != nil {
			if attr != nil {
				return nil, fmt.Errorf("has both %s and %s", attr.GetName(), a.GetName())
			}
			attr = a
		}
	}
	if attr == nil {
		return nil, fmt.Errorf("has no value attribute")
	}
	key := weak.Make(attr)
	if t, ok := constCache.Load(key); ok {
		return t.(*graph.Tensor), nil
	}
	t, err := constDecoders[attr.GetName()](attr)
	if err != nil {
		return nil, fmt.Errorf("attribute %s: %w", attr.GetName(), err)
	}
	if _, loaded := constCache.LoadOrStore(key, t); !loaded {
		runtime.AddCleanup(attr, func(k weak.Pointer[onnxpb.AttributeProto]) { constCache.Delete(k) }, key)
	}
	return t, nil
}

// constDecoders turns each of Constant's value attributes into a tensor.
var constDecoders = map[string]func(a *onnxpb.AttributeProto) (*graph.Tensor, error){
	"value": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		if a.GetT() == nil {
			return nil, fmt.Errorf("holds no tensor")
		}
		return graph.TensorFromProto(a.GetT(), nil)
	},
	"sparse_value": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) { return sparseToDense(a.GetSparseTensor()) },
	"value_float": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		return out(graph.Float, nil, []float32{a.GetF()}), nil
	},
	"value_floats": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		f := append([]float32{}, a.GetFloats()...)
		return out(graph.Float, []int64{int64(len(f))}, f), nil
	},
	"value_int": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		return out(graph.Int64, nil, []int64{a.GetI()}), nil
	},
	"value_ints": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		v := append([]int64{}, a.GetInts()...)
		return out(graph.Int64, []int64{int64(len(v))}, v), nil
	},
	"value_string": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		return out(graph.String, nil, []string{string(a.GetS())}), nil
	},
	"value_strings": func(a *onnxpb.AttributeProto) (*graph.Tensor, error) {
		s := make([]string, len(a.GetStrings()))
		for i, b := range a.GetStrings() {
			s[i] = string(b)
		}
		return out(graph.String, []int64{int64(len(s))}, s), nil
	},
}

// sparseToDense expands a SparseTensorProto: indices are either linear
// ([NNZ]) or coordinates ([NNZ, rank]); other elements are zero.
func sparseToDense(sp *onnxpb.SparseTensorProto) (*graph.Tensor, error) {
	if sp == nil || sp.GetValues() == nil {
		return nil, fmt.Errorf("sparse tensor has no values")
	}
	vals, err := graph.TensorFromProto(sp.GetValues(), nil)
	if err != nil {
		return nil, err
	}
	shape := sp.GetDims()
	n := ShapeSize(shape)
	nnz := vals.Len()
	pos := make([]int, nnz)
	if sp.GetIndices() != nil {
		it, err := graph.TensorFromProto(sp.GetIndices(), nil)
		if err != nil {
			return nil, err
		}
		ind, err := TensorInts(it, "sparse indices")
		if err != nil {
			return nil, err
		}
		st := Strides(shape)
		switch {
		case len(ind) == nnz:
			for i, v := range ind {
				pos[i] = int(v)
			}
		case len(ind) == nnz*len(shape):
			for i := range pos {
				for d := range shape {
					pos[i] += int(ind[i*len(shape)+d]) * st[d]
				}
			}
		default:
			return nil, fmt.Errorf("sparse indices of shape %v do not fit %d values of rank %d", it.Shape, nnz, len(shape))
		}
	}
	// Dense = zeros with the values scattered: gather from [values..., 0].
	zero := graph.Zeros(vals.DType, []int64{1})
	ops, err := opsFor(vals.Data)
	if err != nil {
		return nil, err
	}
	ext := ops.concat([]any{vals.Data, zero.Data}, 1, []int{nnz, 1})
	idx := make([]int, n)
	for i := range idx {
		idx[i] = nnz
	}
	for i, p := range pos {
		if p < 0 || p >= n {
			return nil, fmt.Errorf("sparse index %d is out of range for %d elements", p, n)
		}
		idx[p] = i
	}
	return out(vals.DType, shape, ops.take(ext, idx)), nil
}

// constantKernel returns the cached decoded attribute, pinned: the same
// tensor serves every run, so no run may recycle or overwrite it.
func constantKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	t, err := constantValue(ctx.Node)
	if err != nil {
		return nil, err
	}
	ctx.pin(t)
	return one(t)
}

func checkConstant(n *graph.Node) error {
	_, err := constantValue(n)
	return err
}

// constantOfShapeKernel fills the shape given by input 0 with the value
// attribute (a one-element tensor; default float32 0).
func constantOfShapeKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if err := needInputs(in, 1); err != nil {
		return nil, err
	}
	shape, err := TensorInts(in[0], "shape")
	if err != nil {
		return nil, err
	}
	if err := checkSize(shape); err != nil {
		return nil, err
	}
	v := graph.MustTensor(graph.Float, []int64{1}, []float32{0})
	if ctx.Node.HasAttr("value") {
		if v, err = ctx.Node.AttrTensor("value"); err != nil {
			return nil, err
		}
		if v.Len() != 1 {
			return nil, fmt.Errorf("value must have one element, has shape %v", v.Shape)
		}
	}
	ops, err := opsWith(ctx, v.Data)
	if err != nil {
		return nil, err
	}
	return one(out(v.DType, shape, ops.fill(v.Data, ShapeSize(shape))))
}

func init() {
	Register(&Op{Type: "Constant", MinOpset: 1, Forward: constantKernel, Check: checkConstant})
	Register(&Op{Type: "ConstantOfShape", MinOpset: 9, Forward: constantOfShapeKernel})
}
