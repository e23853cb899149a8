package engine

import (
	"fmt"

	"github.com/onnxq/onnxq/graph"
)

// scanKernel is Scan from opset 9: inputs are N loop states then M scan
// inputs; every iteration runs the body on the states and one slice of
// each scan input (along scan_input_axes, in scan_input_directions) and
// collects one slice of each of the K scan outputs, stacked along
// scan_output_axes (reversed when scan_output_directions says so).
func scanKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	nd := ctx.Node
	body := nd.Subgraphs["body"]
	if body == nil {
		return nil, fmt.Errorf("attribute body is missing")
	}
	m := int(nd.AttrInt("num_scan_inputs", 0))
	n := len(in) - m
	k := len(body.Outputs) - n
	if m <= 0 || n < 0 || k < 0 || len(body.Inputs) != n+m {
		return nil, fmt.Errorf("body with %d inputs and %d outputs does not fit %d states and %d scan inputs", len(body.Inputs), len(body.Outputs), n, m)
	}
	if err := needInputs(in, len(in)); err != nil {
		return nil, err
	}
	inAxes := nd.AttrInts("scan_input_axes", make([]int64, m))
	inDirs := nd.AttrInts("scan_input_directions", make([]int64, m))
	outAxes := nd.AttrInts("scan_output_axes", make([]int64, k))
	outDirs := nd.AttrInts("scan_output_directions", make([]int64, k))
	if len(inAxes) != m || len(inDirs) != m || len(outAxes) != k || len(outDirs) != k {
		return nil, fmt.Errorf("scan axes and directions do not match %d scan inputs and %d scan outputs", m, k)
	}
	// Split every scan input into its slices along its axis.
	slices := make([][]*graph.Tensor, m)
	steps := -1
	for j := 0; j < m; j++ {
		x := in[n+j]
		a, err := NormAxis(inAxes[j], x.Rank())
		if err != nil {
			return nil, err
		}
		if steps >= 0 && int(x.Shape[a]) != steps {
			return nil, fmt.Errorf("scan input %d has %d steps, input 0 has %d", j, x.Shape[a], steps)
		}
		steps = int(x.Shape[a])
		ones := make([]int64, steps)
		for i := range ones {
			ones[i] = 1
		}
		parts, err := splitTensor(x, a, ones)
		if err != nil {
			return nil, err
		}
		for i, p := range parts {
			sh := append(append([]int64{}, x.Shape[:a]...), x.Shape[a+1:]...)
			parts[i] = reshaped(p, sh)
		}
		if inDirs[j] != 0 {
			for l, r := 0, len(parts)-1; l < r; l, r = l+1, r-1 {
				parts[l], parts[r] = parts[r], parts[l]
			}
		}
		slices[j] = parts
	}
	state := append([]*graph.Tensor(nil), in[:n]...)
	collected := make([][]*graph.Tensor, k)
	for t := 0; t < steps; t++ {
		args := append([]*graph.Tensor(nil), state...)
		for j := 0; j < m; j++ {
			args = append(args, slices[j][t])
		}
		res, err := ctx.RunSubgraph(body, args)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", t, err)
		}
		copy(state, res[:n])
		for j := 0; j < k; j++ {
			collected[j] = append(collected[j], res[n+j])
		}
	}
	outs := state
	for j := 0; j < k; j++ {
		s := collected[j]
		if outDirs[j] != 0 {
			for l, r := 0, len(s)-1; l < r; l, r = l+1, r-1 {
				s[l], s[r] = s[r], s[l]
			}
		}
		st, err := stackTensors(s, body.Outputs[n+j])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", j, err)
		}
		a, err := NormAxis(outAxes[j], st.Rank())
		if err != nil {
			return nil, err
		}
		if a != 0 {
			// Move the stacked axis 0 to position a.
			perm := make([]int64, st.Rank())
			for i := range perm {
				switch {
				case i < a:
					perm[i] = int64(i + 1)
				case i == a:
					perm[i] = 0
				default:
					perm[i] = int64(i)
				}
			}
			pn := &graph.Node{OpType: "Transpose"}
			pn.SetAttr("perm", perm)
			v, err := transposePlan(&Context{Node: pn}, []*graph.Tensor{st})
			if err != nil {
				return nil, err
			}
			if st, err = v.apply(st); err != nil {
				return nil, err
			}
		}
		outs = append(outs, st)
	}
	return outs, nil
}

// scan8Kernel is Scan of opset 8: inputs (sequence_lens, states...,
// scan inputs...) with a leading batch dim on every one; each batch entry
// is scanned along axis 1 (after the batch axis), forward or reversed by
// directions, for its sequence length.
func scan8Kernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	nd := ctx.Node
	body := nd.Subgraphs["body"]
	if body == nil {
		return nil, fmt.Errorf("attribute body is missing")
	}
	m := int(nd.AttrInt("num_scan_inputs", 0))
	n := len(in) - 1 - m
	k := len(body.Outputs) - n
	if m <= 0 || n < 0 || k < 0 || len(body.Inputs) != n+m {
		return nil, fmt.Errorf("body does not fit %d states and %d scan inputs", n, m)
	}
	if err := needInputs(in[1:], len(in)-1); err != nil {
		return nil, err
	}
	dirs := nd.AttrInts("directions", make([]int64, m))
	batch := int(in[1].Shape[0])
	steps := int(in[1+n].Shape[1])
	var lens []int64
	if in[0] != nil {
		var err error
		if lens, err = TensorInts(in[0], "sequence_lens"); err != nil {
			return nil, err
		}
	}
	perBatch := make([][]*graph.Tensor, len(body.Outputs))
	for b := 0; b < batch; b++ {
		sub := make([]*graph.Tensor, 0, n+m)
		for _, t := range in[1:] {
			p, err := splitTensor(t, 0, onesThen(batch, b))
			if err != nil {
				return nil, err
			}
			sub = append(sub, reshaped(p[1], t.Shape[1:]))
		}
		steps := steps
		if lens != nil {
			steps = int(lens[b])
		}
		// Trim every scan input to this entry's length, then run Scan 9.
		for j := 0; j < m; j++ {
			x := sub[n+j]
			if int(x.Shape[0]) != steps {
				p, err := splitTensor(x, 0, []int64{int64(steps), x.Shape[0] - int64(steps)})
				if err != nil {
					return nil, err
				}
				sub[n+j] = p[0]
			}
		}
		c9 := &graph.Node{OpType: "Scan", Subgraphs: nd.Subgraphs}
		c9.SetAttr("num_scan_inputs", int64(m))
		c9.SetAttr("scan_input_directions", dirs)
		res, err := scanKernel(&Context{Node: c9, Opset: 9, prog: ctx.prog, env: ctx.env, opts: ctx.opts}, sub)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", b, err)
		}
		for j, r := range res {
			perBatch[j] = append(perBatch[j], r)
		}
	}
	outs := make([]*graph.Tensor, len(perBatch))
	for j, ts := range perBatch {
		st, err := stackTensors(ts, body.Outputs[j])
		if err != nil {
			return nil, err
		}
		outs[j] = st
	}
	return outs, nil
}

// onesThen returns split sizes that cut entry b out of n: [b, 1, n-b-1].
func onesThen(n, b int) []int64 { return []int64{int64(b), 1, int64(n - b - 1)} }

func init() {
	Register(&Op{Type: "Scan", MinOpset: 8, MaxOpset: 8, Forward: scan8Kernel, Check: checkLoop})
	Register(&Op{Type: "Scan", MinOpset: 9, Forward: scanKernel, Check: checkLoop})
}
