package qat

import (
	"fmt"
	"math"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/graph"
)

// Loss operators of the training domain. Both take (prediction, target) of
// the same shape [..., C] and return a scalar, averaged over all leading
// positions (rows).
//
//	SoftCrossEntropy: -sum_c target_c * log softmax(prediction / T)_c * T^2,
//	  with attribute temperature T (default 1). With one-hot targets it is
//	  the usual cross-entropy; with the teacher's softmax(logits / T) it is
//	  KL distillation up to a constant (the teacher's entropy).
//	MeanSquaredError: mean over all elements of (prediction - target)^2.
//	BinaryCrossEntropy: mean over all elements of
//	  -(target log p + (1 - target) log(1 - p)), p the prediction clamped to
//	  [1e-7, 1 - 1e-7]: for outputs that are probabilities of their own (a
//	  sigmoid map), matched element by element to the teacher's.
const (
	SoftCrossEntropyOp   = "SoftCrossEntropy"
	MeanSquaredErrorOp   = "MeanSquaredError"
	BinaryCrossEntropyOp = "BinaryCrossEntropy"
)

func init() {
	engine.Register(&engine.Op{Domain: Domain, Type: SoftCrossEntropyOp, MinOpset: 1, Forward: sceForward, Backward: sceBackward})
	engine.Register(&engine.Op{Domain: Domain, Type: MeanSquaredErrorOp, MinOpset: 1, Forward: mseForward, Backward: mseBackward})
	engine.Register(&engine.Op{Domain: Domain, Type: BinaryCrossEntropyOp, MinOpset: 1, Forward: bceForward, Backward: bceBackward})
}

func rows(t *graph.Tensor) (int, int, error) {
	if t.Rank() < 1 {
		return 0, 0, fmt.Errorf("loss input must have a class axis, got a scalar")
	}
	c := int(t.Shape[t.Rank()-1])
	if c == 0 {
		return 0, 0, fmt.Errorf("loss input has no classes")
	}
	return t.Len() / c, c, nil
}

func checkPair(p, t *graph.Tensor) error {
	if p.Len() != t.Len() {
		return fmt.Errorf("prediction %v and target %v differ in size", p.Shape, t.Shape)
	}
	return nil
}

// logSoftmax returns log softmax of z/T for one row.
func logSoftmax(z []float32, temp float64, out []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = math.Max(m, float64(v)/temp)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v)/temp - m)
	}
	ls := math.Log(s) + m
	for i, v := range z {
		out[i] = float64(v)/temp - ls
	}
}

func sceForward(ctx *engine.Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	if err := checkPair(p, t); err != nil {
		return nil, err
	}
	n, c, err := rows(p)
	if err != nil {
		return nil, err
	}
	temp := float64(ctx.Node.AttrFloat("temperature", 1))
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	ls := make([]float64, c)
	var loss float64
	for r := 0; r < n; r++ {
		logSoftmax(pz[r*c:(r+1)*c], temp, ls)
		for i := 0; i < c; i++ {
			loss -= float64(tz[r*c+i]) * ls[i]
		}
	}
	loss *= temp * temp / float64(n)
	return []*graph.Tensor{graph.Scalar(float32(loss))}, nil
}

// sceBackward: d/dz_i = T * (softmax(z/T)_i * sum(t) - t_i) / n.
func sceBackward(ctx *engine.Context, in, _, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	n, c, err := rows(p)
	if err != nil {
		return nil, err
	}
	temp := float64(ctx.Node.AttrFloat("temperature", 1))
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	g := float64(dout[0].Data.([]float32)[0])
	dp := make([]float32, len(pz))
	ls := make([]float64, c)
	for r := 0; r < n; r++ {
		logSoftmax(pz[r*c:(r+1)*c], temp, ls)
		var ts float64
		for i := 0; i < c; i++ {
			ts += float64(tz[r*c+i])
		}
		for i := 0; i < c; i++ {
			dp[r*c+i] = float32(g * temp * (math.Exp(ls[i])*ts - float64(tz[r*c+i])) / float64(n))
		}
	}
	return []*graph.Tensor{graph.MustTensor(graph.Float, p.Shape, dp), nil}, nil
}

func mseForward(_ *engine.Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	if err := checkPair(p, t); err != nil {
		return nil, err
	}
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	var s float64
	for i := range pz {
		d := float64(pz[i] - tz[i])
		s += d * d
	}
	return []*graph.Tensor{graph.Scalar(float32(s / float64(max(len(pz), 1))))}, nil
}

func mseBackward(_ *engine.Context, in, _, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	g := float64(dout[0].Data.([]float32)[0])
	dp := make([]float32, len(pz))
	for i := range pz {
		dp[i] = float32(g * 2 * float64(pz[i]-tz[i]) / float64(max(len(pz), 1)))
	}
	return []*graph.Tensor{graph.MustTensor(graph.Float, p.Shape, dp), nil}, nil
}

// bceEps keeps BinaryCrossEntropy's logarithms finite where a sigmoid has
// saturated to 0 or 1 in float32.
const bceEps = 1e-7

func bceForward(_ *engine.Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	if err := checkPair(p, t); err != nil {
		return nil, err
	}
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	var s float64
	for i := range pz {
		q := min(max(float64(pz[i]), bceEps), 1-bceEps)
		y := float64(tz[i])
		s -= y*math.Log(q) + (1-y)*math.Log(1-q)
	}
	return []*graph.Tensor{graph.Scalar(float32(s / float64(max(len(pz), 1))))}, nil
}

// bceBackward is (p - t) / (p (1 - p)) per element: through a Sigmoid
// it becomes p - t, which does not vanish where the student has saturated
// on the wrong side (MSE's gradient does, by the factor p (1 - p)).
func bceBackward(_ *engine.Context, in, _, dout []*graph.Tensor) ([]*graph.Tensor, error) {
	p, t := in[0], in[1]
	pz, _ := p.Float32s()
	tz, _ := t.Float32s()
	g := float64(dout[0].Data.([]float32)[0]) / float64(max(len(pz), 1))
	dp := make([]float32, len(pz))
	for i := range pz {
		q := min(max(float64(pz[i]), bceEps), 1-bceEps)
		dp[i] = float32(g * (q - float64(tz[i])) / (q * (1 - q)))
	}
	return []*graph.Tensor{graph.MustTensor(graph.Float, p.Shape, dp), nil}, nil
}
