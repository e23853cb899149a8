package graph

import (
	"sort"
	"strings"
)

func init() {
	addRules(einsumRule, "Einsum")
}

// einsumRule gives each output letter the dim its inputs give it; "..."
// stands for dims that broadcast across the inputs. Without "->" the
// output is the broadcast dims, then the letters used once, sorted.
func einsumRule(c *inferCtx) ([]typeInfo, error) {
	eq := strings.ReplaceAll(c.n.AttrString("equation", ""), " ", "")
	dt := c.arg(0).dt
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(c.n.Inputs) {
		return nil, c.errorf("equation %q has %d operands for %d inputs", eq, len(terms), len(c.n.Inputs))
	}
	letters := map[rune]symDim{}
	count := map[rune]int{}
	var ellipsis []symDim
	for i, term := range terms {
		t := c.arg(i)
		if !t.ranked {
			return []typeInfo{unranked(dt)}, nil
		}
		before, after, hasDots := strings.Cut(term, "...")
		if !hasDots {
			after = ""
		}
		named := len(before) + len(after)
		if named > len(t.dims) || (!hasDots && named != len(t.dims)) {
			return nil, c.errorf("operand %d %q does not match its shape %s", i, term, fmtSymDims(t.dims))
		}
		dims := t.dims
		if hasDots {
			n := len(t.dims) - named
			b, err := broadcastDims(ellipsis, t.dims[len(before):len(before)+n])
			if err != nil {
				return nil, c.errorf("operand %d: %v", i, err)
			}
			ellipsis = b
			dims = append(copyDims(t.dims[:len(before)]), t.dims[len(before)+n:]...)
		}
		for k, r := range []rune(before + after) {
			if old, seen := letters[r]; seen {
				d, ok := unifyDim(old, dims[k])
				if !ok {
					return nil, c.errorf("letter %q is %s in one operand and %s in another", r, old, dims[k])
				}
				letters[r] = d
			} else {
				letters[r] = dims[k]
			}
			count[r]++
		}
	}
	if !explicit {
		var once []string
		for r, n := range count {
			if n == 1 {
				once = append(once, string(r))
			}
		}
		sort.Strings(once)
		rhs = "..." + strings.Join(once, "")
	}
	before, after, hasDots := strings.Cut(rhs, "...")
	if !hasDots {
		after = ""
	}
	out := []symDim{}
	for _, r := range before {
		d, ok := letters[r]
		if !ok {
			return nil, c.errorf("output letter %q is not in any operand", r)
		}
		out = append(out, d)
	}
	if hasDots {
		out = append(out, ellipsis...)
	}
	for _, r := range after {
		d, ok := letters[r]
		if !ok {
			return nil, c.errorf("output letter %q is not in any operand", r)
		}
		out = append(out, d)
	}
	return []typeInfo{ranked(dt, out)}, nil
}
