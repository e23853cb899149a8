package graph

import "github.com/onnxq/onnxq/onnxio/onnxpb"

// SparseInitializers returns g's sparse initializers as stored in the file.
// The IR keeps them as they are (their values have no Const); they are
// written back unchanged.
func (g *Graph) SparseInitializers() []*onnxpb.SparseTensorProto { return g.sparse }
