package ort

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/onnxq/onnxq/graph"
)

// Session is a model loaded into ONNX Runtime. Run may be called from
// several goroutines at once (ONNX Runtime's Run is thread-safe); Close
// waits for the runs under way.
type Session struct {
	name string // the model file, for messages
	lib  *library

	mu      sync.RWMutex // Run holds it for reading, Close for writing
	session uintptr      // OrtSession*, 0 once closed

	inputs, outputs []valueInfo
	// inNames and outNames are the names as C strings from ONNX Runtime's
	// allocator, in model order: Run passes them back; Close frees them.
	inNames, outNames []unsafe.Pointer
}

// valueInfo describes one model input or output as the session sees it.
type valueInfo struct {
	name   string
	tensor bool        // false for sequences, maps, optionals
	dtype  graph.DType // for tensors
	dims   []int64     // for tensors; -1 where the dimension is not fixed
}

// NewSession loads the model file at path.
func NewSession(path string, opts Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("model for ONNX Runtime: %w", err)
	}
	return newSession(path, nil, opts)
}

// NewSessionFromBytes loads a model from its serialized bytes; name is used
// in messages.
func NewSessionFromBytes(name string, model []byte, opts Options) (*Session, error) {
	if len(model) == 0 {
		return nil, fmt.Errorf("%s: the model is empty (0 bytes)", name)
	}
	return newSession(name, model, opts)
}

// newSession creates the session from the file name, or from model when it
// is not nil.
func newSession(name string, model []byte, opts Options) (*Session, error) {
	lib, err := loadedLibrary()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("%s: Threads is %d, want >= 0", name, opts.Threads)
	}
	so, err := lib.sessionOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime session options: %w", name, err)
	}
	defer lib.api.releaseSessionOptions(so)
	s := &Session{name: name, lib: lib}
	a := lib.api
	if model == nil {
		err = a.check(a.createSession(lib.env, name, so, &s.session))
	} else {
		err = a.check(a.createSessionFromArray(lib.env, model, uintptr(len(model)), so, &s.session))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime cannot load the model: %w", name, err)
	}
	if err := s.describe(); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: reading the model's inputs and outputs from ONNX Runtime: %w", name, err)
	}
	return s, nil
}

// optLevels maps OptLevel to ONNX Runtime's GraphOptimizationLevel.
var optLevels = map[OptLevel]int32{
	OptDisabled: 0,  // ORT_DISABLE_ALL
	OptBasic:    1,  // ORT_ENABLE_BASIC
	OptExtended: 2,  // ORT_ENABLE_EXTENDED
	OptAll:      99, // ORT_ENABLE_ALL
}

// sessionOptions makes the OrtSessionOptions for opts; the caller releases
// them.
func (lib *library) sessionOptions(opts Options) (uintptr, error) {
	level, ok := optLevels[opts.OptLevel]
	if !ok {
		return 0, fmt.Errorf("unknown optimization level %d", opts.OptLevel)
	}
	threads := opts.Threads
	if threads == 0 {
		threads = 1
	}
	a := lib.api
	var so uintptr
	if err := a.check(a.createSessionOptions(&so)); err != nil {
		return 0, err
	}
	for _, set := range []func() uintptr{
		func() uintptr { return a.setIntraOpThreads(so, int32(threads)) },
		func() uintptr { return a.setInterOpThreads(so, 1) },
		func() uintptr { return a.setOptimizationLevel(so, level) },
		func() uintptr {
			if opts.OptimizedModelPath == "" {
				return 0
			}
			return a.setOptimizedModelPath(so, opts.OptimizedModelPath)
		},
	} {
		if err := a.check(set()); err != nil {
			a.releaseSessionOptions(so)
			return 0, err
		}
	}
	return so, nil
}

// side is what describe needs to read one side (inputs or outputs) of a
// session.
type side struct {
	count    func(session uintptr, n *uintptr) uintptr
	name     func(session, i, allocator uintptr, name *unsafe.Pointer) uintptr
	typeInfo func(session, i uintptr, info *uintptr) uintptr
	infos    *[]valueInfo
	names    *[]unsafe.Pointer
}

// describe reads the session's inputs and outputs.
func (s *Session) describe() error {
	a := s.lib.api
	for _, sd := range []side{
		{a.sessionInputCount, a.sessionInputName, a.sessionInputTypeInfo, &s.inputs, &s.inNames},
		{a.sessionOutputCount, a.sessionOutputName, a.sessionOutputTypeInfo, &s.outputs, &s.outNames},
	} {
		var n uintptr
		if err := a.check(sd.count(s.session, &n)); err != nil {
			return err
		}
		for i := range n {
			var name unsafe.Pointer
			if err := a.check(sd.name(s.session, i, s.lib.alloc, &name)); err != nil {
				return err
			}
			*sd.names = append(*sd.names, name)
			info := valueInfo{name: cString(name)}
			var ti, tensorInfo uintptr
			if err := a.check(sd.typeInfo(s.session, i, &ti)); err != nil {
				return err
			}
			err := a.check(a.castToTensorInfo(ti, &tensorInfo))
			if err == nil && tensorInfo != 0 { // owned by ti, not released
				info.tensor = true
				info.dtype, info.dims, err = s.lib.tensorInfo(tensorInfo)
			}
			a.releaseTypeInfo(ti)
			if err != nil {
				return err
			}
			*sd.infos = append(*sd.infos, info)
		}
	}
	return nil
}

// InputNames returns the names of the inputs Run needs, in model order.
func (s *Session) InputNames() []string { return names(s.inputs) }

// OutputNames returns the names of the outputs Run returns, in model order.
func (s *Session) OutputNames() []string { return names(s.outputs) }

func names(infos []valueInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.name
	}
	return out
}

// Close releases the session; it waits for the runs under way. Closing
// twice does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session == 0 {
		return nil
	}
	a := s.lib.api
	a.releaseSession(s.session)
	s.session = 0
	var err error
	for _, p := range append(s.inNames, s.outNames...) {
		if e := a.check(a.allocatorFree(s.lib.alloc, p)); e != nil && err == nil {
			err = fmt.Errorf("%s: freeing the session's names: %w", s.name, e)
		}
	}
	s.inNames, s.outNames = nil, nil
	return err
}

// Run runs the model on inputs, which must hold exactly the model's inputs
// (InputNames), and returns every output by name. Supported element types:
// float32, float64, float16, bfloat16, float8 (the four types of opset 19),
// int8-64, uint8-64 and bool.
func (s *Session) Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.session == 0 {
		return nil, fmt.Errorf("%s: the session is closed", s.name)
	}
	if err := s.checkInputs(inputs); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	a := s.lib.api
	// Inputs share the tensors' memory, pinned until their values are
	// released (deferred calls run last to first).
	var pin runtime.Pinner
	defer pin.Unpin()
	in := make([]uintptr, len(s.inputs))
	out := make([]uintptr, len(s.outputs))
	defer s.release(in)
	defer s.release(out)
	for i, info := range s.inputs {
		v, err := s.lib.newValue(inputs[info.name], &pin)
		if err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", s.name, info.name, err)
		}
		in[i] = v
	}
	if err := a.check(a.run(s.session, 0, s.inNames, in, uintptr(len(in)), s.outNames, uintptr(len(out)), out)); err != nil {
		return nil, fmt.Errorf("%s: ONNX Runtime: %w", s.name, err)
	}
	res := make(map[string]*graph.Tensor, len(out))
	for i, v := range out {
		t, err := s.lib.tensor(v)
		if err != nil {
			return nil, fmt.Errorf("%s: output %q: %w", s.name, s.outputs[i].name, err)
		}
		res[s.outputs[i].name] = t
	}
	return res, nil
}

// release releases the values ONNX Runtime made (0 entries are skipped).
func (s *Session) release(values []uintptr) {
	for _, v := range values {
		if v != 0 {
			s.lib.api.releaseValue(v)
		}
	}
}

// checkInputs compares inputs with the session's inputs: names, element
// types, ranks and static dimensions.
func (s *Session) checkInputs(inputs map[string]*graph.Tensor) error {
	var problems []string
	for _, info := range s.inputs {
		t := inputs[info.name]
		if t == nil {
			problems = append(problems, fmt.Sprintf("no tensor for input %q", info.name))
			continue
		}
		if !info.tensor {
			problems = append(problems, fmt.Sprintf("input %q is not a tensor, which the ONNX Runtime engine does not support", info.name))
			continue
		}
		if t.DType != info.dtype {
			problems = append(problems, fmt.Sprintf("input %q is %s, the model wants %s", info.name, t.DType, info.dtype))
		}
		match := len(info.dims) == len(t.Shape)
		for k := 0; match && k < len(t.Shape); k++ {
			match = info.dims[k] < 0 || info.dims[k] == t.Shape[k]
		}
		if !match {
			problems = append(problems, fmt.Sprintf("input %q has shape %v, the model wants %v (-1: any)", info.name, t.Shape, info.dims))
		}
	}
	known := map[string]bool{}
	for _, info := range s.inputs {
		known[info.name] = true
	}
	var extra []string
	for n := range inputs {
		if !known[n] {
			extra = append(extra, fmt.Sprintf("%q", n))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("not model inputs: %s (the inputs are %q)", strings.Join(extra, ", "), s.InputNames()))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
