package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// Kernel computes a node's outputs from its inputs. An omitted optional
// input is nil. It returns one tensor per node output (nil for an output
// the node omits).
type Kernel func(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error)

// Gradient computes the gradients of a loss with respect to a node's
// inputs, given the inputs, the forward outputs and the gradients with
// respect to the outputs (nil for an output nothing depends on). It
// returns one gradient per input, nil for inputs that are not
// differentiable (indices, shapes, integer tensors).
type Gradient func(ctx *Context, in, out, dout []*graph.Tensor) ([]*graph.Tensor, error)

// Op is one registry entry: an operator implementation valid for a range
// of opset versions of its domain.
type Op struct {
	Domain   string // "" for the default ONNX domain
	Type     string
	MinOpset int64 // first opset version this implementation covers
	MaxOpset int64 // last one (0: no upper bound)
	Forward  Kernel
	Backward Gradient // nil when the op is not differentiable
	// Check, if set, verifies a node's attributes before any work starts,
	// so that a model with an unsupported attribute value fails at Compile.
	Check func(n *graph.Node) error
}

type opKey struct{ domain, op string }

var registry = map[opKey][]*Op{}

// Register adds an operator implementation. It panics if the range
// overlaps one already registered for the same op: registration happens in
// init functions, and an overlap is a programming error.
func Register(op *Op) {
	k := opKey{canonical(op.Domain), op.Type}
	hi := op.MaxOpset
	if hi == 0 {
		hi = math.MaxInt64
	}
	for _, o := range registry[k] {
		ohi := o.MaxOpset
		if ohi == 0 {
			ohi = math.MaxInt64
		}
		if op.MinOpset <= ohi && o.MinOpset <= hi {
			panic(fmt.Sprintf("engine: %s opsets %d-%d registered twice", op.Type, op.MinOpset, op.MaxOpset))
		}
	}
	registry[k] = append(registry[k], op)
}

// Lookup returns the implementation of (domain, op type) at an opset
// version, or nil.
func Lookup(domain, opType string, opset int64) *Op {
	for _, o := range registry[opKey{canonical(domain), opType}] {
		if opset >= o.MinOpset && (o.MaxOpset == 0 || opset <= o.MaxOpset) {
			return o
		}
	}
	return nil
}

// Registered lists every registered op as "domain:Type[min-max]", sorted.
func Registered() []string {
	var out []string
	for k, ops := range registry {
		for _, o := range ops {
			d := k.domain
			if d == "" {
				d = "ai.onnx"
			}
			hi := "latest"
			if o.MaxOpset != 0 {
				hi = fmt.Sprint(o.MaxOpset)
			}
			out = append(out, fmt.Sprintf("%s:%s[%d-%s]", d, k.op, o.MinOpset, hi))
		}
	}
	sort.Strings(out)
	return out
}

func canonical(domain string) string {
	if domain == "ai.onnx" {
		return ""
	}
	return domain
}

// Unsupported is the error Compile returns when a model uses operators the
// registry does not have (or attribute values they do not support). It
// lists every problem at once.
type Unsupported struct {
	Problems []string // "Foo (opset 13)", "Resize (opset 13): mode \"cubic\" ..."
}

func (e *Unsupported) Error() string {
	return fmt.Sprintf("the model uses %d unsupported operator(s): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}
