package tune

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Snapshot is a frozen copy of a model from which independent deep copies
// are made. It holds the serialized model plus the types of values that
// the file form does not carry (types recorded by running the model or by
// shape inference on values without a value_info entry), so that a copy
// is annotated exactly as the original would be.
type Snapshot struct {
	data  []byte
	dir   string
	types []map[string]*onnxpb.TypeProto // per graph, in Graphs() order
}

// NewSnapshot freezes m. Later changes to m do not affect the snapshot.
func NewSnapshot(m *graph.Model) (*Snapshot, error) {
	data, err := proto.Marshal(m.ToProto())
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	s := &Snapshot{data: data, dir: m.Dir}
	for _, g := range m.Graph.Graphs() {
		types := map[string]*onnxpb.TypeProto{}
		for _, v := range g.Inputs {
			if v.Type != nil {
				types[v.Name] = proto.Clone(v.Type).(*onnxpb.TypeProto)
			}
		}
		for _, n := range g.Nodes {
			for _, v := range n.Outputs {
				if v != nil && v.Type != nil {
					types[v.Name] = proto.Clone(v.Type).(*onnxpb.TypeProto)
				}
			}
		}
		s.types = append(s.types, types)
	}
	return s, nil
}

// Model returns a new deep copy of the frozen model.
func (s *Snapshot) Model() (*graph.Model, error) {
	om, err := onnxio.Decode(s.data)
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	m, err := graph.FromONNX(om)
	if err != nil {
		return nil, fmt.Errorf("copying the model: %w", err)
	}
	m.Dir = s.dir
	graphs := m.Graph.Graphs()
	if len(graphs) != len(s.types) {
		return nil, fmt.Errorf("copying the model: %d graphs, the original has %d", len(graphs), len(s.types))
	}
	for i, g := range graphs {
		types := s.types[i]
		for _, n := range g.Nodes {
			for _, v := range n.Outputs {
				if v != nil && v.Type == nil {
					if t, ok := types[v.Name]; ok {
						v.Type = proto.Clone(t).(*onnxpb.TypeProto)
					}
				}
			}
		}
	}
	return m, nil
}

// Size returns the size in bytes of the serialized model.
func (s *Snapshot) Size() int { return len(s.data) }

// Clone returns a deep copy of m, value types included.
func Clone(m *graph.Model) (*graph.Model, error) {
	s, err := NewSnapshot(m)
	if err != nil {
		return nil, err
	}
	return s.Model()
}

// ModelSize returns the size in bytes of m written as one ONNX file
// (without external data): the size the budget search minimizes.
func ModelSize(m *graph.Model) int64 {
	return int64(proto.Size(m.ToProto()))
}
