// Package ort runs ONNX models in ONNX Runtime, loaded at run time from
// its shared library (libonnxruntime.so) and called through its C API
// (OrtGetApiBase, struct OrtApi) with github.com/ebitengine/purego. It is
// onnxq's optional second engine (selected with --engine ort) and the
// reference the tests compare the Go engine and quantized models against.
//
// It needs no cgo: the default onnxq binary (CGO_ENABLED=0) loads the
// library the same way a cgo build does. Call Init once with the library
// path (or $ONNXRUNTIME_LIB); it creates the process's one ONNX Runtime
// environment, which lives until the process ends. Then NewSession and
// Session.Run; a Session may be used from several goroutines at once.
package ort

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// LibraryEnv is the environment variable Init reads the library path from
// when it is given none.
const LibraryEnv = "ONNXRUNTIME_LIB"

// OptLevel is ONNX Runtime's graph optimization level.
type OptLevel int

const (
	// OptAll enables every optimization, including layout changes for the
	// machine it runs on (ONNX Runtime's default).
	OptAll OptLevel = iota
	// OptDisabled runs the graph as written.
	OptDisabled
	// OptBasic folds constants and removes redundant nodes.
	OptBasic
	// OptExtended adds fusions, among them the ones that turn QDQ groups
	// into integer kernels (QLinearConv, QLinearMatMul,
	// MatMulIntegerToFloat).
	OptExtended
)

var optLevelNames = map[OptLevel]string{OptAll: "all", OptDisabled: "disabled", OptBasic: "basic", OptExtended: "extended"}

// String returns the level's name: disabled, basic, extended or all.
func (l OptLevel) String() string {
	if s, ok := optLevelNames[l]; ok {
		return s
	}
	return fmt.Sprintf("OptLevel(%d)", int(l))
}

// ParseOptLevel parses disabled, basic, extended or all.
func ParseOptLevel(s string) (OptLevel, error) {
	for l, name := range optLevelNames {
		if strings.EqualFold(s, name) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown optimization level %q (want disabled, basic, extended or all)", s)
}

// Options configures a Session.
type Options struct {
	// Threads is the number of intra-op threads; 0 means 1, so results and
	// timings are reproducible. Inter-op parallelism is always off.
	Threads int
	// OptLevel is the graph optimization level (default OptAll).
	OptLevel OptLevel
	// OptimizedModelPath, when set, makes ONNX Runtime write the model as
	// it runs it (after optimization) to this path while the session is
	// created; OpTypes lists what it contains.
	OptimizedModelPath string
}

// OpTypes returns how many nodes of each op type a model file holds,
// counting the nodes of subgraphs too. Op types of other domains than the
// default ONNX one are keyed "domain:OpType" (e.g.
// "com.microsoft:MatMulIntegerToFloat"); QLinearConv and QLinearMatMul are
// default-domain ops.
func OpTypes(path string) (map[string]int, error) {
	m, err := graph.FromFile(path)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	m.Graph.Walk(func(n *graph.Node) bool {
		key := n.OpType
		if n.Domain != "" && n.Domain != "ai.onnx" {
			key = n.Domain + ":" + n.OpType
		}
		counts[key]++
		return true
	})
	return counts, nil
}

// FormatOpTypes renders op type counts as "A×2 B×1 ..." in name order, for
// messages.
func FormatOpTypes(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, counts[k])
	}
	return strings.Join(parts, " ")
}
