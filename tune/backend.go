package tune

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
)

// Backend loads a model into an engine for measurement.
type Backend func(m *graph.Model) (evaluate.Runner, error)

// GoBackend runs models on onnxq's own engine (no files, no native code):
// compiling a variant costs next to nothing, which suits measuring many.
func GoBackend(m *graph.Model) (evaluate.Runner, error) {
	p, err := engine.Compile(m)
	if err != nil {
		return nil, err
	}
	return evaluate.NewGoRunner(p), nil
}

// ORTBackend runs models in ONNX Runtime (which must be loaded with
// ort.Init), with its integer kernels: what a deployed model computes.
// Each model costs a session (graph optimization included).
func ORTBackend(threads int) Backend {
	return func(m *graph.Model) (evaluate.Runner, error) {
		data, err := proto.Marshal(m.ToProto())
		if err != nil {
			return nil, err
		}
		s, err := ort.NewSessionFromBytes("variant", data, ort.Options{Threads: threads})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// NewBackend returns the backend of an engine.
func NewBackend(e evaluate.Engine, ortLib string, threads int) (Backend, error) {
	switch e {
	case evaluate.EngineGo, "":
		return GoBackend, nil
	case evaluate.EngineORT:
		if err := ort.Init(ortLib); err != nil {
			return nil, err
		}
		return ORTBackend(threads), nil
	}
	return nil, fmt.Errorf("unknown engine %q", e)
}
