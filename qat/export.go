package qat

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/rewrite"
)

// ExportTarget is the runtime an exported model is checked against.
type ExportTarget string

const (
	// ExportORT is ONNX Runtime: 4-bit activations are written in 8-bit
	// types behind a Clip (see widenActivations4).
	ExportORT ExportTarget = "ort"
	// ExportTensorRT checks TensorRT's explicit-quantization profile.
	ExportTensorRT ExportTarget = "tensorrt"
	// ExportONNX is standard ONNX with no runtime's workarounds: 4-bit
	// activations keep their int4/uint4 types.
	ExportONNX ExportTarget = "onnx"
)

// ExportIRVersion is the ir_version exported models declare: accepted by
// every ONNX Runtime tried (1.21 refuses higher) and enough for opset 21.
const ExportIRVersion = 10

// Export turns a QDQ model (float weights behind Q -> DQ, as finetune
// writes, or already integer) into the deployable form, in place: integer
// weight initializers feeding DequantizeLinear, int32 biases, the lowest
// opset that expresses its Q/DQ nodes (never below the model's own), an
// explicit ir_version, and a final check of every Q/DQ node (and of the
// target's profile) before anything is written.
func Export(m *graph.Model, target ExportTarget, log *rewrite.Log) error {
	if log == nil {
		log = &rewrite.Log{}
	}
	if m.Opset(Domain) != 0 {
		var ops []graph.Opset
		for _, o := range m.Opsets {
			if o.Domain != Domain {
				ops = append(ops, o)
			}
		}
		m.Opsets = ops
	}
	found := false
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.Domain == Domain {
			found = true
		}
		return !found
	})
	if found {
		return fmt.Errorf("the model still holds training operators (%s); export a model written by finetune", Domain)
	}
	if err := rewrite.Run(m, log, rewrite.FoldWeights, rewrite.QuantizeBiases, rewrite.RemoveDeadNodes); err != nil {
		return err
	}
	switch target {
	case ExportORT, "":
		if err := rewrite.Run(m, log, widenActivations4Pass); err != nil {
			return err
		}
	case ExportTensorRT, ExportONNX:
	default:
		return fmt.Errorf("target %q: want ort, tensorrt or onnx", target)
	}
	m.IRVersion = ExportIRVersion
	if err := rewrite.CheckQDQ(m); err != nil {
		return err
	}
	if target == ExportTensorRT {
		return checkTensorRT(m)
	}
	return nil
}

// checkTensorRT verifies TensorRT's explicit-quantization profile: every
// zero point 0 (symmetric), 8-bit or 4-bit signed types, and no graph output
// computed by DequantizeLinear.
func checkTensorRT(m *graph.Model) error {
	var problems []string
	m.Graph.Walk(func(n *graph.Node) bool {
		if n.OpType != "QuantizeLinear" && n.OpType != "DequantizeLinear" {
			return true
		}
		zp := n.Input(2)
		if zp == nil || !zp.IsConst() {
			return true
		}
		if dt := zp.Const.DType; dt != graph.Int8 && dt != graph.Int4 && dt != graph.Int32 {
			problems = append(problems, fmt.Sprintf("node %s: zero point type %s (TensorRT wants signed int8)", n.Label(), dt))
			return true
		}
		z, _ := zp.Const.Int64s()
		for _, v := range z {
			if v != 0 {
				problems = append(problems, fmt.Sprintf("node %s: zero point %d (TensorRT wants 0)", n.Label(), v))
				break
			}
		}
		return true
	})
	for _, o := range m.Graph.Outputs {
		if o.Producer != nil && o.Producer.OpType == "DequantizeLinear" {
			problems = append(problems, fmt.Sprintf("graph output %q comes from DequantizeLinear (TensorRT wants no Q/DQ on outputs)", o.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("not a TensorRT profile model: %v", problems)
	}
	return nil
}
