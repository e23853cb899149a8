package tune

import (
	"bytes"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/rewrite"
)

// mnist returns n MNIST images (from the start of file) prepared for
// mnist-7.
func mnist(t testing.TB, file string, n int) dataset.Source {
	t.Helper()
	all, err := dataset.OpenMNIST(testdata.Path(t, "mnist/"+file), dataset.MNISTPresets["mnist-7"])
	if err != nil {
		t.Fatal(err)
	}
	var src dataset.Source = all
	if n > 0 && n < src.Len() {
		if src, err = dataset.Slice(src, 0, n); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func loadModel(t testing.TB, name string) *graph.Model {
	t.Helper()
	m, err := graph.FromFile(testdata.Path(t, testdata.RealModels[name]))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(t testing.TB, m *graph.Model) []byte {
	t.Helper()
	b, err := proto.Marshal(m.ToProto())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVariantIsWhatInsertQDQWrites checks that a variant built from the
// session's statistics is byte for byte the model ptq.Quantize (the
// insert-qdq flow) writes with the variant's config file, for uniform
// int8 and for a mixed choice (int4 weights, 16-bit activations, float).
func TestVariantIsWhatInsertQDQWrites(t *testing.T) {
	calib := mnist(t, "train-images-idx3-ubyte.gz", 50)
	eval := EvalData{Source: mnist(t, "t10k-images-idx3-ubyte.gz", 20)}
	mixed := func(ls []Layer) Choice {
		return Choice{ls[0].Name: Int16, ls[1].Name: Int4, ls[2].Name: Float}
	}
	// MSE weight scales and size placement cannot be written to a config
	// file: the session's configuration carries them (ConfigOf).
	mse := ptq.Defaults()
	mse.WeightMethod, mse.Placement = ptq.WeightMSE, rewrite.PlaceSize
	for _, tc := range []struct {
		name    string
		opset21 bool
		cfg     ptq.Config
		choice  func(ls []Layer) Choice
	}{
		{"int8", false, ptq.Defaults(), func([]Layer) Choice { return Choice{} }},
		{"mixed", true, ptq.Defaults(), mixed},
		{"mixed, mse weights, size placement", true, mse, func(ls []Layer) Choice { return Choice{ls[1].Name: Int4} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(loadModel(t, "mnist-7"), calib, eval, tc.cfg, Options{Opset21: tc.opset21})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Layers) != 3 {
				t.Fatalf("mnist-7 has 2 Conv and a Gemm, got layers %+v", s.Layers)
			}
			v, err := s.Build(tc.choice(s.Layers))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := s.ConfigOf(v.Config)
			if err != nil {
				t.Fatal(err)
			}
			m := loadModel(t, "mnist-7")
			if _, err := ptq.Quantize(m, calib, cfg); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(marshal(t, v.Model), marshal(t, m)) {
				t.Errorf("the variant differs from what insert-qdq writes with its config %+v", v.Config)
			}
		})
	}
}

// TestCachedMeasurementsAreExact measures variants of BlazeFace (front)
// twice: recomputing only what differs from the kept tensors of the float
// and the all-int8 model, and running every node. The figures must be
// identical: the same kernels see the same inputs.
func TestCachedMeasurementsAreExact(t *testing.T) {
	imgs, err := dataset.OpenImageFolder(testdata.Path(t, "images"), dataset.ImagePresets["blazeface-front"])
	if err != nil {
		t.Fatal(err)
	}
	calib, _ := dataset.Slice(imgs, 0, 3)
	eval, _ := dataset.Slice(imgs, 6, 8)
	cached, err := NewSession(loadModel(t, "blazeface-front"), calib, EvalData{Source: eval}, ptq.Defaults(), Options{Opset21: true})
	if err != nil {
		t.Fatal(err)
	}
	full, err := NewSession(loadModel(t, "blazeface-front"), calib, EvalData{Source: eval}, ptq.Defaults(), Options{Backend: GoBackend, Opset21: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cached.AddBase(cached.Uniform(Int8)); err != nil {
		t.Fatal(err)
	}
	if len(cached.bases) != 2 || len(full.bases) != 0 {
		t.Fatalf("%d and %d bases, want 2 and 0", len(cached.bases), len(full.bases))
	}
	ls := cached.Layers
	mid := ls[len(ls)/2].Name
	choices := map[string]Choice{"alone": cached.Uniform(Float), "left float": cached.Uniform(Int8), "mixed": cached.Uniform(Int4)}
	choices["alone"][mid] = Int8
	choices["left float"][mid] = Float
	choices["mixed"][mid] = Int16
	for name, c := range choices {
		vc, err := cached.Build(c)
		if err != nil {
			t.Fatal(err)
		}
		_, dirty := bestCut(cached, vc.Model)
		a, err := cached.Measure(vc.Model)
		if err != nil {
			t.Fatal(err)
		}
		b, err := full.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Outputs, b.Outputs) || a.SQNR != b.SQNR || a.Size != b.Size {
			t.Errorf("%s: cached %v / %+v, full run %v / %+v", name, a.SQNR, a.Outputs, b.SQNR, b.Outputs)
		}
		t.Logf("%s: SQNR %.2f dB, %d of the variant's nodes recomputed", name, float64(a.SQNR), dirty)
	}
}

func bestCut(s *Session, m *graph.Model) (*base, int) {
	var best *base
	dirty := -1
	for _, b := range s.bases {
		if _, d := b.cut(m); dirty < 0 || d < dirty {
			best, dirty = b, d
		}
	}
	return best, dirty
}

// convConcat is x[1,2,4,4] -> Conv -> Relu -> MaxPool -> Conv -> Concat
// with the MaxPool output: the Concat makes the MaxPool output and the
// second Conv's output one scale group.
func convConcat() *graph.Model {
	b := graph.NewBuilder(13)
	x := b.Input("x", graph.Float, 1, 2, 4, 4)
	w := b.Floats("w", []int64{3, 2, 1, 1}, 0.5, -1, 0.25, 1, -0.5, 0.75)
	bias := b.Floats("b", []int64{3}, 0.1, -0.2, 0.3)
	c := graph.SetType(b.Op("Conv", []*graph.Value{x, w, bias}, nil), graph.Float, 1, 3, 4, 4)
	r := graph.SetType(b.Op("Relu", []*graph.Value{c}, nil), graph.Float, 1, 3, 4, 4)
	p := graph.SetType(b.Op("MaxPool", []*graph.Value{r}, map[string]any{"kernel_shape": []int64{2, 2}, "strides": []int64{2, 2}}), graph.Float, 1, 3, 2, 2)
	w2 := b.Floats("w2", []int64{2, 3, 1, 1}, 0.5, 0.25, -0.75, 1, -1, 0.5)
	c2 := graph.SetType(b.Op("Conv", []*graph.Value{p, w2}, nil), graph.Float, 1, 2, 2, 2)
	y := graph.SetType(b.Op("Concat", []*graph.Value{p, c2}, map[string]any{"axis": int64(1)}), graph.Float, 1, 5, 2, 2)
	z := graph.SetType(b.Op("Relu", []*graph.Value{y}, nil), graph.Float, 1, 5, 2, 2)
	b.Output(z)
	return b.Model()
}

// TestScaleGroupsGetOneType gives 16-bit activations to the second Conv
// only: its input and output share a scale with the first layer's output
// (through the MaxPool and the Concat), so Build raises the first layer
// and the data-movement nodes to 16 bits too, and the config file says
// so; insert-qdq reproduces the model from it.
func TestScaleGroupsGetOneType(t *testing.T) {
	src := randomSamples(t, "x", 6, 1, 2, 4, 4)
	s, err := NewSession(convConcat(), src, EvalData{Source: src}, ptq.Defaults(), Options{Opset21: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Layers) < 2 || s.Layers[0].Op != "Conv" || s.Layers[1].Op != "Conv" {
		t.Fatalf("layers %+v", s.Layers)
	}
	first, second := s.Layers[0].Name, s.Layers[1].Name
	v, err := s.Build(Choice{second: Int16})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Settings[first]; got.ActBits != 16 || got.WeightBits != 8 {
		t.Errorf("first layer %v, want 8-bit weights with 16-bit activations", got)
	}
	plan, err := annotate(s.Model, mustApply(t, v.Config))
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range plan.Activations() {
		for _, m := range plan.GroupMembers(rep) {
			if plan.Specs[m].Type.DType != plan.Specs[rep].Type.DType {
				t.Errorf("group %s mixes %s and %s", rep.Name, plan.Specs[rep].Type.DType, plan.Specs[m].Type.DType)
			}
		}
	}
	if len(mixedGroups(plan)) != 0 {
		t.Error("mixed groups left")
	}
	if _, err := s.Measure(v.Model); err != nil {
		t.Fatalf("the model does not run: %v", err)
	}
	m := convConcat()
	if _, err := ptq.Quantize(m, src, mustApply(t, v.Config)); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Build(Choice{second: Int16})
	if !bytes.Equal(marshal(t, again.Model), marshal(t, m)) {
		t.Error("insert-qdq with the config file writes another model")
	}
	// Without the fix the plan of the plain choice mixes types.
	plain := ptq.Defaults()
	plain.Nodes = map[string]rewrite.NodeOverride{second: {Activations: graph.Uint16}}
	pp, err := annotate(s.Model, plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(mixedGroups(pp)) == 0 {
		t.Error("the test model does not mix types in a scale group: it tests nothing")
	}
}

func mustApply(t *testing.T, fc *ptq.FileConfig) ptq.Config {
	t.Helper()
	cfg := ptq.Defaults()
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestScaleGroupsWithUnnamedNodes: when a node of the mixed group has no
// name (a config file cannot give it 16 bits), the 16-bit side is lowered
// to 8 bits instead.
func TestScaleGroupsWithUnnamedNodes(t *testing.T) {
	m := convConcat()
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Concat" {
			n.Name = ""
		}
	}
	src := randomSamples(t, "x", 6, 1, 2, 4, 4)
	s, err := NewSession(m, src, EvalData{Source: src}, ptq.Defaults(), Options{Opset21: true})
	if err != nil {
		t.Fatal(err)
	}
	second := s.Layers[1].Name
	v, err := s.Build(Choice{second: Int16})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Settings[second]; got != Int8.Setting() {
		t.Errorf("second layer %v, want it lowered to int8", got)
	}
	plan, err := annotate(s.Model, mustApply(t, v.Config))
	if err != nil {
		t.Fatal(err)
	}
	if len(mixedGroups(plan)) != 0 {
		t.Error("mixed groups left")
	}
}
