package graph

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Walk calls fn for every node of g and of its subgraphs, depth first,
// each graph's nodes in order. It stops when fn returns false.
func (g *Graph) Walk(fn func(*Node) bool) bool {
	for _, n := range g.Nodes {
		if !fn(n) {
			return false
		}
		for _, name := range slices.Sorted(maps.Keys(n.Subgraphs)) {
			if !n.Subgraphs[name].Walk(fn) {
				return false
			}
		}
	}
	return true
}

// Graphs returns g and all graphs nested in it.
func (g *Graph) Graphs() []*Graph {
	gs := []*Graph{g}
	for _, n := range g.Nodes {
		for _, name := range slices.Sorted(maps.Keys(n.Subgraphs)) {
			gs = append(gs, n.Subgraphs[name].Graphs()...)
		}
	}
	return gs
}

// Uses maps every value to the nodes that read it, including nodes of
// subgraphs that read values of enclosing graphs. Graph outputs are not
// uses; see IsGraphOutput. Build it once per pass: it is not updated when
// the graph changes.
type Uses map[*Value][]*Node

// UseMap computes the uses of all values in g and its subgraphs.
func (g *Graph) UseMap() Uses {
	u := Uses{}
	g.Walk(func(n *Node) bool {
		for _, v := range n.Inputs {
			if v != nil {
				u[v] = append(u[v], n)
			}
		}
		return true
	})
	return u
}

// IsGraphOutput reports whether v is an output of the graph that defines it.
func (v *Value) IsGraphOutput() bool {
	if v == nil || v.Graph == nil {
		return false
	}
	for _, o := range v.Graph.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

// Names returns the set of every value name used in g's whole model tree
// (walking up to the root graph and down through all subgraphs).
func (g *Graph) Names() map[string]bool {
	root := g
	for root.Parent != nil {
		root = root.Parent
	}
	names := map[string]bool{}
	add := func(v *Value) {
		if v != nil {
			names[v.Name] = true
		}
	}
	for _, sg := range root.Graphs() {
		for _, v := range sg.Inputs {
			add(v)
		}
		for _, v := range sg.Initializers {
			add(v)
		}
		for _, v := range sg.Outputs {
			add(v)
		}
		for _, n := range sg.Nodes {
			for _, v := range n.Outputs {
				add(v)
			}
			for _, v := range n.Inputs {
				add(v)
			}
		}
	}
	return names
}

// Namer hands out value and node names that are unique in a model.
type Namer struct {
	used map[string]bool
}

// NewNamer returns a Namer that avoids every name used in g's model.
func NewNamer(g *Graph) *Namer {
	used := g.Names()
	root := g
	for root.Parent != nil {
		root = root.Parent
	}
	root.Walk(func(n *Node) bool {
		if n.Name != "" {
			used[n.Name] = true
		}
		return true
	})
	return &Namer{used: used}
}

// Name returns base if it is free, else base_1, base_2, ...; and marks it used.
func (nm *Namer) Name(base string) string {
	name := base
	for i := 1; nm.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	nm.used[name] = true
	return name
}

// AddInitializer adds a constant to g under a fresh name derived from base
// and returns its value.
func (g *Graph) AddInitializer(nm *Namer, base string, t *Tensor) *Value {
	v := &Value{Name: nm.Name(base), Const: t, Graph: g}
	g.Initializers = append(g.Initializers, v)
	return v
}

// SetConst turns v, a value computed by a node of g, into an initializer
// of g holding t. v keeps its name and its readers; the node that computed
// it no longer does, and the caller removes it (RemoveNodes).
func (g *Graph) SetConst(v *Value, t *Tensor) {
	v.Producer, v.Index, v.Const = nil, 0, t
	g.Initializers = append(g.Initializers, v)
}

// NewNode creates a node with fresh output values named after outNames
// (made unique by nm) and appends it to g. The caller places it with
// TopoSort or InsertBefore if order matters before then.
func (g *Graph) NewNode(nm *Namer, opType, domain string, inputs []*Value, outNames []string, attrs map[string]any) *Node {
	n := &Node{OpType: opType, Domain: domain, Inputs: inputs, Graph: g}
	n.Name = nm.Name(outNames[0] + "_" + opType)
	for i, name := range outNames {
		n.Outputs = append(n.Outputs, &Value{Name: nm.Name(name), Producer: n, Index: i, Graph: g})
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		n.SetAttr(k, attrs[k])
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// ReplaceUses makes every reader of old (nodes in g and its subgraphs, and
// g's outputs when outputs is true) read new instead.
func (g *Graph) ReplaceUses(old, new *Value, outputs bool) {
	g.Walk(func(n *Node) bool {
		for i, v := range n.Inputs {
			if v == old {
				n.Inputs[i] = new
			}
		}
		return true
	})
	if outputs {
		for i, v := range g.Outputs {
			if v == old {
				g.Outputs[i] = new
				if info, ok := g.outInfo[old]; ok {
					g.outInfo[new] = info
				}
			}
		}
	}
}

// RemoveNodes deletes the given nodes from g.
func (g *Graph) RemoveNodes(dead map[*Node]bool) {
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if !dead[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
}

// TopoSort orders g's nodes so that every node comes after the producers
// of its inputs (including values read inside its subgraphs). Nodes that
// are already in order keep their order. It fails on a cycle.
func (g *Graph) TopoSort() error {
	index := map[*Node]int{}
	for i, n := range g.Nodes {
		index[n] = i
	}
	deps := func(n *Node) []*Node {
		var ds []*Node
		add := func(v *Value) {
			if v != nil && v.Producer != nil && v.Producer.Graph == g {
				ds = append(ds, v.Producer)
			}
		}
		for _, v := range n.Inputs {
			add(v)
		}
		for _, name := range slices.Sorted(maps.Keys(n.Subgraphs)) {
			for _, v := range n.Subgraphs[name].OuterValues() {
				add(v)
			}
		}
		return ds
	}
	state := map[*Node]int{} // 0 new, 1 visiting, 2 done
	var order []*Node
	var visit func(n *Node) error
	visit = func(n *Node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("graph has a cycle through node %s", n.Label())
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range deps(n) {
			if _, ok := index[d]; !ok {
				return fmt.Errorf("node %s reads %q from a node that is not in the graph", n.Label(), d.Label())
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range g.Nodes {
		if err := visit(n); err != nil {
			return err
		}
	}
	g.Nodes = order
	return nil
}

// OuterValues returns the values that g's nodes (and its subgraphs' nodes)
// read from graphs enclosing g: a subgraph's implicit inputs.
func (g *Graph) OuterValues() []*Value {
	var out []*Value
	seen := map[*Value]bool{}
	g.Walk(func(n *Node) bool {
		for _, v := range n.Inputs {
			if v != nil && !seen[v] && !g.encloses(v.Graph) {
				seen[v] = true
				out = append(out, v)
			}
		}
		return true
	})
	for _, v := range g.Outputs {
		if v != nil && !seen[v] && !g.encloses(v.Graph) {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// encloses reports whether h is g or nested inside g.
func (g *Graph) encloses(h *Graph) bool {
	for ; h != nil; h = h.Parent {
		if h == g {
			return true
		}
	}
	return false
}
