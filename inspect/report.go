// Package inspect summarises an ONNX model: format versions, producer,
// inputs and outputs, the operators it uses (counted through If/Loop/Scan
// bodies), its parameters and its size on disk. It is the logic behind
// `onnxq inspect`; docs/cli.md documents the JSON form of Report.
package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// Report is the summary of one model. Its JSON form is stable: keys are
// only ever added, never renamed or removed.
type Report struct {
	IRVersion       int64    `json:"ir_version"`
	OpsetImport     []Opset  `json:"opset_import"`
	ProducerName    string   `json:"producer_name"`
	ProducerVersion string   `json:"producer_version"`
	Inputs          []IOInfo `json:"inputs"`
	Outputs         []IOInfo `json:"outputs"`
	// NodeCount counts the nodes of the main graph and of every subgraph.
	NodeCount int `json:"node_count"`
	// OpTypes counts nodes by operator, through subgraphs. Operators of the
	// default ONNX domain are keyed by op type ("Conv"), others by
	// "domain:op_type" ("com.microsoft:QLinearConv").
	OpTypes map[string]int `json:"op_types"`
	// SubgraphCount is the number of graphs nested in the main graph
	// (If branches, Loop and Scan bodies, at any depth).
	SubgraphCount int `json:"subgraph_count"`
	// InitializerParams is the number of elements stored in initializers
	// (dense, plus the stored values of sparse ones) of all graphs.
	InitializerParams int64 `json:"initializer_params"`
	// ConstantParams is the number of elements of the tensors held by
	// Constant nodes, in all graphs.
	ConstantParams int64 `json:"constant_params"`
	// FileBytes is the size of the model file itself.
	FileBytes int64 `json:"file_bytes"`
	// ExternalDataBytes is the number of bytes of tensor data the model
	// keeps in external data files.
	ExternalDataBytes int64 `json:"external_data_bytes"`
}

// Opset is one operator set import, as the file states it ("" is the
// default ONNX domain).
type Opset struct {
	Domain  string `json:"domain"`
	Version int64  `json:"version"`
}

// IOInfo describes a graph input or output.
type IOInfo struct {
	Name string `json:"name"`
	// ElemType is the element type of a tensor ("FLOAT", "INT64", ...).
	// Other types are spelled out: "sequence(FLOAT)", "map(INT64,FLOAT)",
	// "optional(FLOAT)", "sparse_tensor(FLOAT)". It is "" when the file
	// does not give a type.
	ElemType string `json:"elem_type"`
	// Shape has one entry per dimension: an int64 for a fixed size, a
	// string for a symbolic dimension (its dim_param), nil for an unknown
	// one. Shape itself is nil when not even the rank is known, and empty
	// for a scalar.
	Shape []any `json:"shape"`
}

// File loads the model at path (through onnxio and graph) and reports on it.
func File(path string) (*Report, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such file", path)
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, fmt.Errorf("%s: is a directory, not an ONNX model file", path)
	}
	om, err := onnxio.Load(path)
	if err != nil {
		return nil, err
	}
	m, err := graph.FromONNX(om)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := FromModel(om, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.FileBytes = st.Size()
	return r, nil
}

// FromModel reports on a model: om is the file as loaded, m its IR. The
// file size is left 0 (File fills it in).
func FromModel(om *onnxio.Model, m *graph.Model) (*Report, error) {
	r := &Report{
		IRVersion:       m.IRVersion,
		OpsetImport:     []Opset{},
		ProducerName:    om.Proto.GetProducerName(),
		ProducerVersion: om.Proto.GetProducerVersion(),
		Inputs:          []IOInfo{},
		Outputs:         []IOInfo{},
		OpTypes:         map[string]int{},
	}
	for _, o := range m.Opsets {
		r.OpsetImport = append(r.OpsetImport, Opset{Domain: o.Domain, Version: o.Version})
	}
	for _, v := range m.Graph.Inputs {
		if v.IsConst() {
			continue // IR < 4 files list initializers as inputs too
		}
		r.Inputs = append(r.Inputs, describe(v))
	}
	for _, v := range m.Graph.Outputs {
		r.Outputs = append(r.Outputs, describe(v))
	}
	m.Graph.Walk(func(n *graph.Node) bool {
		r.NodeCount++
		r.OpTypes[opKey(n)]++
		return true
	})
	r.SubgraphCount = len(m.Graph.Graphs()) - 1
	var err error
	if r.InitializerParams, err = initializerParams(m.Graph); err != nil {
		return nil, err
	}
	if r.ConstantParams, err = constantParams(m.Graph); err != nil {
		return nil, err
	}
	if r.ExternalDataBytes, err = externalBytes(om); err != nil {
		return nil, err
	}
	return r, nil
}

// opKey is the op_types key of a node.
func opKey(n *graph.Node) string {
	if n.Domain == "" || n.Domain == "ai.onnx" {
		return n.OpType
	}
	return n.Domain + ":" + n.OpType
}
