// Package dataset reads and writes the sample data that onnxq runs models
// on: calibration sets, evaluation sets and model outputs. Every reader
// produces graph.Tensor values.
//
// Formats:
//   - .npy and .npz (NumPy): ReadNpy, WriteNpy, ReadNpz, WriteNpz.
//   - folders of ONNX test_data_set_* directories holding input_N.pb
//     TensorProto files: OpenTestDataSets.
//   - MNIST idx files (plain or gzip): ReadIDX, OpenMNIST, ReadIDXLabels.
//   - folders of JPEG/PNG images with a declared preprocessing:
//     OpenImageFolder and ImagePreprocess.
//
// A Source streams samples: Sample(i) returns one complete set of model
// inputs, read or decoded on demand, so calibration over a large set never
// holds the whole set in memory. In an .npz the first axis of every array
// indexes runs: ArraySource hands out slice i of each array as a view,
// without copying. Validate checks a Source against a model's inputs
// (names, element types, shapes, NaN/Inf) before any work starts.
package dataset
