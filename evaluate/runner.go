package evaluate

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
)

// Runner runs a model on one complete set of inputs, keyed by input name,
// and returns every model output by name.
type Runner interface {
	Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error)
	Close() error
}

// Engine names the engine that runs a model.
type Engine string

// The engines.
const (
	// EngineGo is onnxq's own engine (package engine): pure Go, always
	// available.
	EngineGo Engine = "go"
	// EngineORT is ONNX Runtime loaded from its shared library (package
	// engine/ort), loaded at run time; any build.
	EngineORT Engine = "ort"
)

// ParseEngine parses "go" or "ort"; "" means go.
func ParseEngine(s string) (Engine, error) {
	switch e := Engine(strings.ToLower(s)); e {
	case "":
		return EngineGo, nil
	case EngineGo, EngineORT:
		return e, nil
	}
	return "", fmt.Errorf("unknown engine %q (want go or ort)", s)
}

// Options chooses how Open runs a model.
type Options struct {
	// Engine is EngineGo (the default) or EngineORT.
	Engine Engine
	// ORTLib is the path of libonnxruntime.so for EngineORT; empty means
	// $ONNXRUNTIME_LIB.
	ORTLib string
	// Threads is the number of threads the engine computes on; 0 means one
	// per core (runtime.GOMAXPROCS). For the Go engine it is a process-wide
	// setting (engine.SetThreads and gemm.SetThreads); for ONNX Runtime it
	// is the session's intra-op thread count.
	Threads int
	// ORTOptLevel is ONNX Runtime's graph optimization level (default: all).
	ORTOptLevel ort.OptLevel
}

// Model is a model file loaded into an engine, ready to run.
type Model struct {
	Path   string
	Engine Engine
	Graph  *graph.Model
	// Inputs are the graph inputs that must be fed (not initializers).
	Inputs []*graph.Value
	// Outputs are the names of the graph outputs, in model order.
	Outputs []string
	Runner
}

// Open loads the model file at path into the engine opts names. With the
// Go engine every node is checked first: a model using operators the
// engine lacks fails here, with one error listing them all.
func Open(path string, opts Options) (*Model, error) {
	e, err := ParseEngine(string(opts.Engine))
	if err != nil {
		return nil, err
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("threads is %d, want >= 0 (0: one per core)", opts.Threads)
	}
	g, err := graph.FromFile(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Engine: e, Graph: g, Inputs: dataset.ModelInputs(g.Graph)}
	for _, v := range g.Graph.Outputs {
		m.Outputs = append(m.Outputs, v.Name)
	}
	threads := opts.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	switch e {
	case EngineGo:
		p, err := engine.Compile(g)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		// The GEMM has its own goroutine split: set both.
		engine.SetThreads(threads)
		gemm.SetThreads(threads)
		m.Runner = goRunner{p}
	case EngineORT:
		if err := ort.Init(opts.ORTLib); err != nil {
			return nil, err
		}
		s, err := ort.NewSession(path, ort.Options{Threads: threads, OptLevel: opts.ORTOptLevel})
		if err != nil {
			return nil, err
		}
		m.Runner = s
	}
	return m, nil
}

// goRunner runs a compiled program of the Go engine.
type goRunner struct{ p *engine.Program }

func (r goRunner) Run(inputs map[string]*graph.Tensor) (map[string]*graph.Tensor, error) {
	return r.p.Run(inputs, nil)
}

func (r goRunner) Close() error { return nil }

// NewGoRunner returns a Runner over a compiled program of the Go engine.
func NewGoRunner(p *engine.Program) Runner { return goRunner{p} }
