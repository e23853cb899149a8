package graph

import (
	"fmt"
)

// Builder assembles a model in code, for tests and for passes that create
// small graphs. Names are made unique automatically.
type Builder struct {
	m  *Model
	g  *Graph
	nm *Namer
}

// NewBuilder starts a model with IR version 10 importing the default ONNX
// domain at opset.
func NewBuilder(opset int64) *Builder {
	g := &Graph{Name: "main"}
	m := &Model{IRVersion: 10, Opsets: []Opset{{Domain: "", Version: opset}}, Graph: g}
	return &Builder{m: m, g: g, nm: &Namer{used: map[string]bool{}}}
}

// Input adds a graph input of element type dt and the given dims (-1 for
// an unknown dim).
func (b *Builder) Input(name string, dt DType, dims ...int64) *Value {
	v := &Value{Name: b.nm.Name(name), Type: TensorType(dt, dims), Graph: b.g}
	b.g.Inputs = append(b.g.Inputs, v)
	return v
}

// Const adds an initializer.
func (b *Builder) Const(name string, t *Tensor) *Value {
	return b.g.AddInitializer(b.nm, name, t)
}

// Floats adds a float32 initializer of the given shape.
func (b *Builder) Floats(name string, shape []int64, data ...float32) *Value {
	return b.Const(name, MustTensor(Float, shape, data))
}

// Int64s adds an int64 initializer of the given shape.
func (b *Builder) Int64s(name string, shape []int64, data ...int64) *Value {
	return b.Const(name, MustTensor(Int64, shape, data))
}

// Op appends a node of the default domain with one output and returns it.
// attrs maps attribute names to Go values as Node.SetAttr takes them.
func (b *Builder) Op(opType string, inputs []*Value, attrs map[string]any) *Value {
	return b.OpN(opType, 1, inputs, attrs)[0]
}

// OpN appends a node with n outputs and returns them.
func (b *Builder) OpN(opType string, n int, inputs []*Value, attrs map[string]any) []*Value {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s_out%d", opType, i)
	}
	node := b.g.NewNode(b.nm, opType, "", inputs, names, attrs)
	return node.Outputs
}

// Output marks values as graph outputs, with their types if known (give
// types with SetType first when the model must pass a checker).
func (b *Builder) Output(vs ...*Value) {
	b.g.Outputs = append(b.g.Outputs, vs...)
}

// SetType sets a value's type.
func SetType(v *Value, dt DType, dims ...int64) *Value {
	v.Type = TensorType(dt, dims)
	return v
}

// Graph returns the graph being built.
func (b *Builder) Graph() *Graph { return b.g }

// Model returns the model built so far.
func (b *Builder) Model() *Model { return b.m }
