package rewrite

import "github.com/onnxq/onnxq/graph"

// InputRole says how a quantization rule treats one input of a node.
type InputRole int

const (
	// Keep leaves the input in float (shapes, indices, scalars).
	Keep InputRole = iota
	// Activation quantizes the input per tensor with calibrated params.
	Activation
	// Weight quantizes a constant input (per channel when enabled); a
	// non-constant one is treated as an Activation.
	Weight
	// Bias stores a constant 1-D input as int32 with scale input scale x
	// weight scale; it needs the node's inputs 0 and 1 quantized.
	Bias
)

// OpRule is how one operator takes part in quantization. Rules only mark
// tensors; Materialize is the one place Q/DQ nodes are made.
type OpRule struct {
	Inputs []InputRole // per input index; inputs past the end are Keep
	// WeightAxis returns the per-channel axis of the Weight input (the
	// output-channel axis), given the node and the weight's rank.
	WeightAxis func(n *graph.Node, rank int) int
	// Output quantizes output 0 so that a runtime can fuse
	// DequantizeLinear -> op -> QuantizeLinear into an integer kernel.
	Output bool
	// Share makes every data output reuse input 0's scale and zero point:
	// the op only moves or selects values (MaxPool, Reshape, Transpose...),
	// so re-quantizing would only lose precision.
	Share bool
	// ShareAll makes all data inputs and the output one scale group
	// (Concat), so that the op needs no requantization.
	ShareAll bool
	// Absorbable marks element-wise activations (Relu, Clip) that a
	// runtime folds into the preceding integer kernel: when their input
	// comes only from a quantized compute op, the pair is quantized as one,
	// with Q/DQ after the activation and none between.
	Absorbable bool
	// Elementwise marks element-wise arithmetic that, quantized,
	// requantizes its result (Add, Mul, Sigmoid...): balanced placement
	// keeps chains of such operators in float (see elementwiseChains).
	Elementwise bool
}

// DataInputs returns how many leading inputs a Share or ShareAll rule
// treats as data (all for Concat, one otherwise).
func (r OpRule) dataInputs(n *graph.Node) int {
	if r.ShareAll {
		return len(n.Inputs)
	}
	return 1
}

func axis0(*graph.Node, int) int { return 0 }
func axis1(*graph.Node, int) int { return 1 }
func lastAxis(_ *graph.Node, rank int) int {
	if rank < 1 {
		return 0
	}
	return rank - 1
}
func gemmAxis(n *graph.Node, _ int) int {
	if n.AttrInt("transB", 0) == 1 {
		return 0
	}
	return 1
}

var (
	act1      = []InputRole{Activation}
	convLike  = []InputRole{Activation, Weight, Bias}
	actAct    = []InputRole{Activation, Activation}
	shareRule = OpRule{Inputs: act1, Share: true}
)

// DefaultRules is the rule table for ONNX Runtime on CPU: the operators it
// runs with integer kernels when they sit between DequantizeLinear and
// QuantizeLinear, and the data-movement operators it runs on 8-bit data
// directly.
var DefaultRules = map[string]OpRule{
	"Conv":              {Inputs: convLike, WeightAxis: axis0, Output: true},
	"ConvTranspose":     {Inputs: convLike, WeightAxis: axis1, Output: true},
	"Gemm":              {Inputs: convLike, WeightAxis: gemmAxis, Output: true},
	"MatMul":            {Inputs: []InputRole{Activation, Weight}, WeightAxis: lastAxis, Output: true},
	"Add":               {Inputs: actAct, Output: true, Elementwise: true},
	"Mul":               {Inputs: actAct, Output: true, Elementwise: true},
	"Sigmoid":           {Inputs: act1, Output: true, Elementwise: true},
	"LeakyRelu":         {Inputs: act1, Output: true, Elementwise: true},
	"Softmax":           {Inputs: act1, Output: true},
	"GlobalAveragePool": {Inputs: act1, Output: true},
	"AveragePool":       {Inputs: act1, Output: true},
	"Relu":              {Inputs: act1, Output: true, Absorbable: true},
	"Clip":              {Inputs: act1, Output: true, Absorbable: true},
	"Concat":            {ShareAll: true, Output: true},
	"MaxPool":           shareRule,
	"GlobalMaxPool":     shareRule,
	"Reshape":           shareRule,
	"Flatten":           shareRule,
	"Squeeze":           shareRule,
	"Unsqueeze":         shareRule,
	"Transpose":         shareRule,
	"Identity":          shareRule,
	"Slice":             shareRule,
	"Gather":            shareRule,
	"Split":             shareRule,
	"Resize":            shareRule,
	"DepthToSpace":      shareRule,
	"SpaceToDepth":      shareRule,
}
