package inspect

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// initializerParams counts the elements of the initializers of g and of
// all its subgraphs. A sparse initializer counts its stored values.
func initializerParams(g *graph.Graph) (int64, error) {
	var n int64
	for _, sg := range g.Graphs() {
		for _, v := range sg.Initializers {
			c, err := onnxio.ElemCount(v.Const.Shape)
			if err != nil {
				return 0, fmt.Errorf("initializer %q: %w", v.Name, err)
			}
			n += c
		}
		for _, sp := range sg.SparseInitializers() {
			c, err := onnxio.ElemCount(sp.GetValues().GetDims())
			if err != nil {
				return 0, fmt.Errorf("sparse initializer %q: %w", sp.GetValues().GetName(), err)
			}
			n += c
		}
	}
	return n, nil
}

// constantParams counts the elements of the values of the Constant nodes
// of g and of all its subgraphs.
func constantParams(g *graph.Graph) (int64, error) {
	var n int64
	var err error
	g.Walk(func(node *graph.Node) bool {
		if node.OpType != "Constant" || (node.Domain != "" && node.Domain != "ai.onnx") {
			return true
		}
		var c int64
		if c, err = constantElems(node); err != nil {
			err = fmt.Errorf("node %s: %w", node.Label(), err)
			return false
		}
		n += c
		return true
	})
	return n, err
}

// constantElems returns the number of elements of a Constant node's value,
// whichever of its attributes holds it. A sparse value counts its stored
// values.
func constantElems(n *graph.Node) (int64, error) {
	for _, a := range n.Attrs {
		switch a.GetName() {
		case "value":
			return onnxio.ElemCount(a.GetT().GetDims())
		case "sparse_value":
			return onnxio.ElemCount(a.GetSparseTensor().GetValues().GetDims())
		case "value_float", "value_int", "value_string":
			return 1, nil
		case "value_floats":
			return int64(len(a.GetFloats())), nil
		case "value_ints":
			return int64(len(a.GetInts())), nil
		case "value_strings":
			return int64(len(a.GetStrings())), nil
		}
	}
	return 0, nil // no value attribute: nothing stored (the checker rejects such a node)
}

// externalBytes sums the bytes of every tensor the model stores as
// external data.
func externalBytes(om *onnxio.Model) (int64, error) {
	var total int64
	err := onnxio.WalkTensors(om.Proto, func(site onnxio.TensorSite, t *onnxpb.TensorProto) error {
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		c, err := onnxio.ElemCount(t.GetDims())
		if err != nil {
			return fmt.Errorf("tensor %s: %w", site, err)
		}
		b, err := onnxio.ByteSize(t.GetDataType(), c)
		if err != nil {
			return fmt.Errorf("tensor %s: %w", site, err)
		}
		total += b
		return nil
	})
	return total, err
}
