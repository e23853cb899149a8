// Package rewrite holds the graph passes of onnxq: normalization
// (Constant nodes to initializers, BatchNormalization folding, opset
// upgrade, dead-node removal) and quantization (annotation of the tensors
// to quantize through a per-op rule table, then one materialization phase
// that inserts QuantizeLinear/DequantizeLinear).
//
// Every pass is small, named, works on a graph.Model in place, never runs
// the model, and says what it changed.
package rewrite

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// Pass is a named graph transformation.
type Pass struct {
	Name string
	// Apply transforms m in place and records each change in log.
	Apply func(m *graph.Model, log *Log) error
}

// Log collects what passes changed, for reports and for tests.
type Log struct {
	Entries []Entry
	pass    string
}

// Entry is one change made by a pass.
type Entry struct {
	Pass    string `json:"pass"`
	Message string `json:"message"`
}

// Changef records a change made by the current pass.
func (l *Log) Changef(format string, args ...any) {
	l.Entries = append(l.Entries, Entry{Pass: l.pass, Message: fmt.Sprintf(format, args...)})
}

// Count returns how many changes the named pass recorded.
func (l *Log) Count(pass string) int {
	n := 0
	for _, e := range l.Entries {
		if e.Pass == pass {
			n++
		}
	}
	return n
}

// Run applies the passes in order, stopping at the first error, which
// names the pass.
func Run(m *graph.Model, log *Log, passes ...Pass) error {
	for _, p := range passes {
		log.pass = p.Name
		if err := p.Apply(m, log); err != nil {
			return fmt.Errorf("pass %s: %w", p.Name, err)
		}
	}
	log.pass = ""
	return nil
}

// A Rule is a pattern rewrite tried on one node: it returns true when it
// matched and changed the graph. uses and nm describe the model as it was
// before this change.
type Rule func(g *graph.Graph, n *graph.Node, uses graph.Uses, nm *graph.Namer) bool

// applyRule tries rule on every node of every graph, starting over after
// each change, until no node matches; it returns the number of changes.
func applyRule(m *graph.Model, rule Rule) int {
	total := 0
	for {
		changed := false
		for _, g := range m.Graph.Graphs() {
			uses := m.Graph.UseMap()
			nm := graph.NewNamer(m.Graph)
			for _, n := range g.Nodes {
				if rule(g, n, uses, nm) {
					changed = true
					break
				}
			}
			if changed {
				break
			}
		}
		if !changed {
			return total
		}
		total++
	}
}
