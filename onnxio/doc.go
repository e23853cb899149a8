// Package onnxio reads and writes ONNX model files.
//
// It knows bytes, not semantics: Load parses a file into the protobuf
// message of package onnxpb, checks that every tensor in it is well formed
// (dims, data lengths, external-data locations) and keeps it byte for byte,
// so that Load followed by Save writes the same file. Tensors stored in
// external data files stay where they are until ReadTensorData asks for
// them. Save writes atomically (temporary file, then rename) and moves large
// tensors to an external data file when the model would not fit in one
// protobuf message.
package onnxio
