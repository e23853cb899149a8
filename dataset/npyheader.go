package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// npyHeader is the dictionary at the start of an .npy file.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNpyHeader parses the Python dict literal of an .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
func parseNpyHeader(s string) (npyHeader, error) {
	p := &pyParser{s: s}
	var h npyHeader
	seen := map[string]bool{}
	if err := p.expect('{'); err != nil {
		return h, err
	}
	for {
		p.space()
		if p.peek() == '}' {
			p.pos++
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if err := p.expect(':'); err != nil {
			return h, err
		}
		switch key {
		case "descr":
			p.space()
			if p.peek() != '\'' && p.peek() != '"' {
				return h, fmt.Errorf("descr is not a simple type string (structured arrays are not supported): %s", s)
			}
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, err
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("unknown header key %q", key)
		}
		seen[key] = true
		p.space()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect('}'); err != nil {
			return h, err
		}
		break
	}
	if rest := strings.TrimSpace(s[p.pos:]); rest != "" {
		return h, fmt.Errorf("unexpected %q after the header dictionary", rest)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("header has no %q entry", k)
		}
	}
	return h, nil
}

// formatNpyHeader returns the dictionary text exactly as numpy writes it
// (keys sorted, trailing ", " before "}"), with numpy's spare spaces that
// let the first axis grow in place, before alignment padding.
func formatNpyHeader(h npyHeader) string {
	dims := make([]string, len(h.shape))
	for i, d := range h.shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	shape := "(" + strings.Join(dims, ", ") + ")"
	if len(dims) == 1 {
		shape = "(" + dims[0] + ",)"
	}
	fortran := "False"
	if h.fortran {
		fortran = "True"
	}
	s := "{'descr': '" + h.descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"
	// numpy (>= 1.23) reserves room for a first axis of up to 21 digits.
	const growthAxisMaxDigits = 21
	if len(dims) > 0 {
		s += strings.Repeat(" ", growthAxisMaxDigits-len(dims[0]))
	}
	return s
}

// pyParser reads the small subset of Python literals .npy headers use.
type pyParser struct {
	s   string
	pos int
}

func (p *pyParser) space() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *pyParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("header %q at offset %d: %s", p.s, p.pos, fmt.Sprintf(format, args...))
}

func (p *pyParser) expect(c byte) error {
	p.space()
	if p.peek() != c {
		return p.errorf("expected %q", c)
	}
	p.pos++
	return nil
}

func (p *pyParser) str() (string, error) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("expected a string")
	}
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", p.errorf("unterminated string")
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

func (p *pyParser) boolean() (bool, error) {
	p.space()
	switch {
	case strings.HasPrefix(p.s[p.pos:], "True"):
		p.pos += 4
		return true, nil
	case strings.HasPrefix(p.s[p.pos:], "False"):
		p.pos += 5
		return false, nil
	}
	return false, p.errorf("expected True or False")
}

// tuple parses a tuple of non-negative integers: (), (5,), (2, 3).
// Python 2 long literals (3L) are accepted.
func (p *pyParser) tuple() ([]int64, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	dims := []int64{}
	for {
		p.space()
		if p.peek() == ')' {
			p.pos++
			return dims, nil
		}
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		if start == p.pos {
			return nil, p.errorf("expected a dimension")
		}
		d, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if err != nil {
			return nil, p.errorf("dimension %s: %v", p.s[start:p.pos], err)
		}
		if p.peek() == 'L' {
			p.pos++
		}
		dims = append(dims, d)
		p.space()
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
		default:
			return nil, p.errorf("expected ',' or ')'")
		}
	}
}
