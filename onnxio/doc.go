// Package onnxio reads and writes ONNX model files.
//
// It knows bytes, not semantics: Load parses a file into the protobuf
// message of package onnxpb, checks that every tensor in it is well formed
// (dims, data lengths, external-data locations) and keeps it byte for byte,
// so that Load followed by Save writes the same file. Tensors stored in
// external data files stay where they are until ReadTensorData asks for
// them. Save writes atomically (temporary files, then rename) and moves large
// tensors to an external data file when the model would not fit in one
// protobuf message.
//
// Files are untrusted input. Load refuses, with the tensor's name and
// place, any tensor whose dims are negative or overflow, whose data
// disagrees with its dims (or is missing), or whose external data leaves
// the model's folder (absolute paths, "..", symbolic links), is not a
// regular file or is too short; nothing is allocated for a tensor before
// the file is known to hold its bytes. Messages nested deeper than the C++
// protobuf parser reads are refused. FuzzLoad and FuzzTensor check that no
// input makes the loader panic, hang or allocate without bound.
package onnxio
