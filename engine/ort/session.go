//go:build cgo

package ort

import (
	"fmt"
	"os"
	"sort"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/onnxq/onnxq/graph"
)

// Session is a model loaded into ONNX Runtime. Run may be called from
// several goroutines at once.
type Session struct {
	name            string // the model file, for messages
	s               *ortgo.DynamicAdvancedSession
	inputs, outputs []ortgo.InputOutputInfo
	inNames         []string
	outNames        []string
}

// NewSession loads the model file at path.
func NewSession(path string, opts Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return newSession(path, nil, opts)
}

// NewSessionFromBytes loads a model from its serialized bytes; name is used
// in messages.
func NewSessionFromBytes(name string, model []byte, opts Options) (*Session, error) {
	return newSession(name, model, opts)
}

func newSession(name string, model []byte, opts Options) (s *Session, err error) {
	if !ortgo.IsInitialized() {
		return nil, fmt.Errorf("ONNX Runtime is not loaded: call ort.Init first")
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("Threads is %d, want >= 0", opts.Threads)
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime session options: %w", name, err)
	}
	defer so.Destroy()
	s = &Session{name: name}
	// The input and output lists come from a first, unoptimized session.
	if model == nil {
		info, err := sessionOptions(Options{OptLevel: OptDisabled})
		if err != nil {
			return nil, err
		}
		s.inputs, s.outputs, err = ortgo.GetInputOutputInfoWithOptions(name, info)
		info.Destroy()
	} else {
		s.inputs, s.outputs, err = ortgo.GetInputOutputInfoWithONNXData(model)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime cannot load the model: %w", name, err)
	}
	for _, in := range s.inputs {
		s.inNames = append(s.inNames, in.Name)
	}
	for _, out := range s.outputs {
		s.outNames = append(s.outNames, out.Name)
	}
	if model == nil {
		s.s, err = ortgo.NewDynamicAdvancedSession(name, s.inNames, s.outNames, so)
	} else {
		s.s, err = ortgo.NewDynamicAdvancedSessionWithONNXData(model, s.inNames, s.outNames, so)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime cannot load the model: %w", name, err)
	}
	return s, nil
}

// optLevels maps OptLevel to ONNX Runtime's levels.
var optLevels = map[OptLevel]ortgo.GraphOptimizationLevel{
	OptDisabled: ortgo.GraphOptimizationLevelDisableAll,
	OptBasic:    ortgo.GraphOptimizationLevelEnableBasic,
	OptExtended: ortgo.GraphOptimizationLevelEnableExtended,
	OptAll:      ortgo.GraphOptimizationLevelEnableAll,
}

func sessionOptions(opts Options) (*ortgo.SessionOptions, error) {
	level, ok := optLevels[opts.OptLevel]
	if !ok {
		return nil, fmt.Errorf("unknown optimization level %d", opts.OptLevel)
	}
	threads := opts.Threads
	if threads == 0 {
		threads = 1
	}
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	for _, set := range []func() error{
		func() error { return so.SetIntraOpNumThreads(threads) },
		func() error { return so.SetInterOpNumThreads(1) },
		func() error { return so.SetGraphOptimizationLevel(level) },
		func() error {
			if opts.OptimizedModelPath == "" {
				return nil
			}
			return so.SetOptimizedModelFilePath(opts.OptimizedModelPath)
		},
	} {
		if err := set(); err != nil {
			so.Destroy()
			return nil, err
		}
	}
	return so, nil
}

// InputNames returns the names of the inputs Run needs, in model order.
func (s *Session) InputNames() []string { return append([]string{}, s.inNames...) }

// OutputNames returns the names of the outputs Run returns, in model order.
func (s *Session) OutputNames() []string { return append([]string{}, s.outNames...) }

// Close releases the session.
func (s *Session) Close() error {
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}

// Run runs the model on inputs, which must hold exactly the model's inputs
// (InputNames), and returns every output by name. Supported element types:
// float32, float64, float16, bfloat16, int8-64, uint8-64 and bool.
func (s *Session) Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	if s.s == nil {
		return nil, fmt.Errorf("%s: the session is closed", s.name)
	}
	if err := s.checkInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	in := make([]ortgo.Value, len(s.inNames))
	out := make([]ortgo.Value, len(s.outNames))
	defer destroyAll(in)
	defer destroyAll(out)
	for i, name := range s.inNames {
		v, err := toORT(inputs[name])
		if err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", s.name, name, err)
		}
		in[i] = v
	}
	for i, info := range s.outputs {
		v, err := preallocate(info)
		if err != nil {
			return nil, fmt.Errorf("%s: output %q: %w", s.name, info.Name, err)
		}
		out[i] = v
	}
	if err := s.s.Run(in, out); err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime: %w", s.name, err)
	}
	res := make(map[string]*graph.Tensor, len(out))
	for i, v := range out {
		t, err := fromORT(v)
		if err != nil {
			return nil, fmt.Errorf("%s: output %q: %w", s.name, s.outNames[i], err)
		}
		res[s.outNames[i]] = t
	}
	return res, nil
}

// checkInputs compares inputs with the session's inputs: names, element
// types, ranks and static dimensions.
func (s *Session) checkInputs(inputs map[string]*graph.Tensor) error {
	var problems []string
	for _, info := range s.inputs {
		t, ok := inputs[info.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("no tensor for input %q", info.Name))
			continue
		}
		if want := graph.DType(info.DataType); t.DType != want {
			problems = append(problems, fmt.Sprintf("input %q is %s, the model wants %s", info.Name, t.DType, want))
		}
		match := len(info.Dimensions) == len(t.Shape)
		for k := 0; match && k < len(t.Shape); k++ {
			match = info.Dimensions[k] < 0 || info.Dimensions[k] == t.Shape[k]
		}
		if !match {
			problems = append(problems, fmt.Sprintf("input %q has shape %v, the model wants %v (-1: any)", info.Name, t.Shape, []int64(info.Dimensions)))
		}
	}
	known := map[string]bool{}
	for _, n := range s.inNames {
		known[n] = true
	}
	var extra []string
	for n := range inputs {
		if !known[n] {
			extra = append(extra, fmt.Sprintf("%q", n))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("not model inputs: %s (the inputs are %q)", strings.Join(extra, ", "), s.inNames))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func destroyAll(vs []ortgo.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}
