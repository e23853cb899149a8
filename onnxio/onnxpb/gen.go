// Package onnxpb holds the Go bindings of the ONNX protobuf schema
// (onnx.proto in this folder, proto package onnxq.onnx).
//
// The bindings are generated; regenerate them with `go generate ./onnxio/...`
// (needs protoc and protoc-gen-go v1.36.12 on PATH).
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
