// Package engine executes ONNX graphs in Go.
//
// Every operator is one entry in a registry keyed by (domain, op type,
// opset range): a Kernel computes the forward pass on graph.Tensor values,
// and differentiable operators also give a Gradient. A Program is a model
// compiled against the registry: Compile checks every node first and
// reports all unsupported (op, opset) pairs in one error, and Run executes
// the nodes in order, calling an optional observer on every value (which
// is how calibration collects statistics).
//
// Training lowers the same kernels and gradients to a Gorgonia expression
// graph (see Lower), so forward values in training and in Run come from the
// same code.
package engine
