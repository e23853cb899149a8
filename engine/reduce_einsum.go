package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxq/onnxq/graph"
)

// einsumSpec is a parsed Einsum equation: one label string per operand
// and the output labels. An ellipsis becomes upper-case labels 'A'.. for
// its dims (right-aligned, broadcast across operands).
type einsumSpec struct {
	ins []string
	out string
}

func parseEinsum(eq string, shapes [][]int64) (*einsumSpec, error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(shapes) {
		return nil, fmt.Errorf("equation %q has %d operands, the node has %d inputs", eq, len(terms), len(shapes))
	}
	// The ellipsis stands for the dims left after the explicit labels.
	ell := 0
	for i, t := range terms {
		if strings.Contains(t, "...") {
			ell = max(ell, len(shapes[i])-(len(t)-3))
		}
	}
	ellLabels := func(n int) string {
		var b strings.Builder
		for i := ell - n; i < ell; i++ {
			b.WriteByte(byte('A' + i))
		}
		return b.String()
	}
	sp := &einsumSpec{}
	for i, t := range terms {
		if strings.Contains(t, "...") {
			t = strings.Replace(t, "...", ellLabels(len(shapes[i])-(len(t)-3)), 1)
		}
		if len(t) != len(shapes[i]) {
			return nil, fmt.Errorf("operand %d: labels %q do not fit shape %v", i, terms[i], shapes[i])
		}
		sp.ins = append(sp.ins, t)
	}
	if explicit {
		sp.out = strings.Replace(rhs, "...", ellLabels(ell), 1)
		return sp, nil
	}
	// Implicit output: the ellipsis dims, then labels used once, sorted.
	count := map[byte]int{}
	for _, t := range sp.ins {
		for j := 0; j < len(t); j++ {
			count[t[j]]++
		}
	}
	var once []string
	for l, c := range count {
		if c == 1 && l >= 'a' {
			once = append(once, string(l))
		}
	}
	sort.Strings(once)
	sp.out = ellLabels(ell) + strings.Join(once, "")
	return sp, nil
}

// einsumKernel computes Einsum directly: every output element sums, over
// the labels not in the output, the product of the operands' elements
// (repeated labels in one operand read its diagonal). Accumulation is in
// float64.
func einsumKernel(ctx *Context, in []*graph.Tensor) ([]*graph.Tensor, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("needs at least one input")
	}
	if err := needInputs(in, len(in)); err != nil {
		return nil, err
	}
	if err := sameType(in); err != nil {
		return nil, err
	}
	shapes := make([][]int64, len(in))
	vals := make([][]float64, len(in))
	for i, t := range in {
		shapes[i] = t.Shape
		v, err := toFloat64s(t)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	sp, err := parseEinsum(ctx.Node.AttrString("equation", ""), shapes)
	if err != nil {
		return nil, err
	}
	size := map[byte]int64{}
	for i, t := range sp.ins {
		for j := 0; j < len(t); j++ {
			d := shapes[i][j]
			if s, ok := size[t[j]]; ok && s != d && s != 1 && d != 1 {
				return nil, fmt.Errorf("label %q has sizes %d and %d", t[j], s, d)
			}
			if d != 1 || size[t[j]] == 0 {
				size[t[j]] = d
			}
		}
	}
	// Loop labels: output labels first, then the summed ones.
	labels := sp.out
	for _, t := range sp.ins {
		for j := 0; j < len(t); j++ {
			if !strings.ContainsRune(labels, rune(t[j])) {
				labels += string(t[j])
			}
		}
	}
	dims := make([]int64, len(labels))
	for i := range labels {
		d, ok := size[labels[i]]
		if !ok {
			return nil, fmt.Errorf("output label %q is not used by any operand", labels[i])
		}
		dims[i] = d
	}
	// strides[k][l]: operand k's step when loop label l advances (0 where
	// the operand lacks the label or broadcasts it).
	strides := make([][]int, len(in))
	for k, t := range sp.ins {
		st := Strides(shapes[k])
		strides[k] = make([]int, len(labels))
		for j := 0; j < len(t); j++ {
			if shapes[k][j] == 1 && size[t[j]] != 1 {
				continue
			}
			strides[k][strings.IndexByte(labels, t[j])] += st[j]
		}
	}
	nOut := len(sp.out)
	outShape := dims[:nOut]
	sumShape := dims[nOut:]
	total := ShapeSize(outShape)
	nSum := ShapeSize(sumShape)
	res := make([]float64, total)
	ParallelFor(total, max(1, 4096/max(nSum, 1)), func(lo, hi int) {
		idx := make([]int, len(labels))
		for o := lo; o < hi; o++ {
			rem := o
			for d := nOut - 1; d >= 0; d-- {
				idx[d] = rem % int(dims[d])
				rem /= int(dims[d])
			}
			var acc float64
			for s := 0; s < nSum; s++ {
				rem := s
				for d := len(labels) - 1; d >= nOut; d-- {
					idx[d] = rem % int(dims[d])
					rem /= int(dims[d])
				}
				p := 1.0
				for k := range in {
					off := 0
					for l, st := range strides[k] {
						off += idx[l] * st
					}
					p *= vals[k][off]
				}
				acc += p
			}
			res[o] = acc
		}
	})
	return oneErr(castFloats(res, outShape, in[0].DType, true))
}

func init() {
	Register(&Op{Type: "Einsum", MinOpset: 12, Forward: einsumKernel})
}
