package qat

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// CloneModel returns a deep copy of m (through its serialized form), so
// that a pass can change the copy and leave m as it is.
func CloneModel(m *graph.Model) (*graph.Model, error) {
	data, err := proto.Marshal(m.ToProto())
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	om, err := onnxio.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	c, err := graph.FromONNX(om)
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	c.Dir = m.Dir
	return c, nil
}
