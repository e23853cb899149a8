package onnxio_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// nestedIfs returns a model whose main graph holds an If whose then_branch
// holds an If ... depth graphs deep, with an initializer in the innermost.
func nestedIfs(depth int) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: proto.String("leaf"),
		Initializer: []*onnxpb.TensorProto{f32Tensor("deep_w", []int64{1}, 1)},
		Output:      []*onnxpb.ValueInfoProto{valueInfo("deep_w", 1)}}
	for range depth {
		g = &onnxpb.GraphProto{Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{node("if", "If", []string{"x"}, []string{"o"},
				&onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g})},
			Output: []*onnxpb.ValueInfoProto{valueInfo("o", 1)}}
	}
	m := modelWith()
	m.Graph.Node = append(m.Graph.Node, node("if", "If", []string{"x"}, []string{"deep"}, g.Node[0].Attribute...))
	return m
}

// TestHostileNesting checks that Decode reads subgraphs nested as deep as
// ONNX Runtime's parser does (messages 100 deep: 31 levels of If whose
// innermost graph has typed outputs) and
// refuses deeper files with a clear message, and that tensor sites stay
// short however deep the tensor sits.
func TestHostileNesting(t *testing.T) {
	m, err := onnxio.Decode(mustMarshal(t, nestedIfs(31)))
	if err != nil {
		t.Fatalf("31 levels of subgraphs: %v", err)
	}
	if _, err := graph.FromONNX(m); err != nil {
		t.Fatal(err)
	}
	var site onnxio.TensorSite
	_ = onnxio.WalkTensors(m.Proto, func(s onnxio.TensorSite, _ *onnxpb.TensorProto) error { site = s; return nil })
	if want := `initializer "deep_w" in graph main/if.then_branch/if.then_branch/(28 more)/if.then_branch`; site.String() != want {
		t.Errorf("site %q, want %q", site, want)
	}

	_, err = onnxio.Decode(mustMarshal(t, nestedIfs(32)))
	assertErr(t, err, "messages are nested more than 100 deep (about 30 levels of subgraphs), more than ONNX Runtime's protobuf parser reads")
}

// TestLongNamesAllocateLittle decodes a model whose one node has a 100 KB
// name and 2000 subgraph and 2000 tensor attributes, each with a tensor. A
// walker that repeated the name in the site of every tensor or subgraph
// would allocate 400 MB from a 0.2 MB file. What Decode allocates beyond
// the protobuf message itself must not grow with the name: at most 1 KiB
// per tensor (two names shortened to 200 bytes, quoted, in the strings of
// its site) plus 64 KiB.
func TestLongNamesAllocateLittle(t *testing.T) {
	n := node(strings.Repeat("n", 100<<10), "Custom", []string{"x"}, []string{"c"})
	const attrs = 2000
	for i := range attrs {
		n.Attribute = append(n.Attribute,
			&onnxpb.AttributeProto{Name: proto.String("g"), Type: onnxpb.AttributeProto_GRAPH.Enum(),
				G: &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{f32Tensor("w", []int64{1}, float32(i))}}},
			&onnxpb.AttributeProto{Name: proto.String("t"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: f32Tensor("", []int64{1}, 1)})
	}
	m := modelWith()
	m.Graph.Node = append(m.Graph.Node, n)
	data := mustMarshal(t, m)
	var err error
	message, _ := allocated(3, func() { err = proto.Unmarshal(data, &onnxpb.ModelProto{}) })
	if err != nil {
		t.Fatal(err)
	}
	decode, took := allocated(3, func() { _, err = onnxio.Decode(data) })
	if err != nil {
		t.Fatal(err)
	}
	bound := message + 1024*2*attrs + 64<<10
	t.Logf("file %d bytes: the message takes %d bytes, Decode %d in %v (bound %d)", len(data), message, decode, took, bound)
	if decode > bound {
		t.Errorf("Decode allocated %d bytes, more than %d", decode, bound)
	}
}
