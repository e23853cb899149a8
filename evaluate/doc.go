// Package evaluate runs a model over a data set and measures the result:
// the stacked outputs that `onnxq run` writes, the top-1 and top-5
// accuracy that `onnxq eval` prints, and how closely one set of outputs
// agrees with another (max absolute and relative error, cosine
// similarity), which is how the Go engine is compared with ONNX Runtime.
//
// A Runner hides which engine executes the model: Open returns a Model
// backed by the Go engine (package engine, the default, no native code) or
// by ONNX Runtime (package engine/ort, its shared library loaded at run time).
package evaluate
