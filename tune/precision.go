package tune

import (
	"fmt"
	"sort"
	"strings"
)

// Precision is how one layer is quantized, from cheapest to dearest.
type Precision string

// The precisions a layer can get.
const (
	// Int4 stores the layer's weights in 4 bits (activations in 8).
	Int4 Precision = "int4"
	// Int8 is 8-bit weights and activations: what insert-qdq does by default.
	Int8 Precision = "int8"
	// Int16 keeps 8-bit weights and quantizes the layer's activations to
	// 16 bits.
	Int16 Precision = "int16"
	// Float leaves the layer in float.
	Float Precision = "float"
)

// Precisions lists every precision, cheapest first.
var Precisions = []Precision{Int4, Int8, Int16, Float}

// Setting is a layer's bit widths; WeightBits 0 means float. A Setting
// can be more than the named precisions offer (4-bit weights with 16-bit
// activations, when a scale group forces 16 bits on a layer).
type Setting struct {
	WeightBits int `json:"weight_bits"`
	ActBits    int `json:"act_bits"`
}

// Setting returns the bit widths of p.
func (p Precision) Setting() Setting {
	switch p {
	case Int4:
		return Setting{4, 8}
	case Int16:
		return Setting{8, 16}
	case Float:
		return Setting{0, 0}
	}
	return Setting{8, 8}
}

// IsFloat reports whether the setting leaves the layer in float.
func (s Setting) IsFloat() bool { return s.WeightBits == 0 }

// String names the setting: a precision's name, or wNaM.
func (s Setting) String() string {
	for _, p := range Precisions {
		if p.Setting() == s {
			return string(p)
		}
	}
	return fmt.Sprintf("w%da%d", s.WeightBits, s.ActBits)
}

// rank orders precisions from cheapest.
func (p Precision) rank() int {
	for i, q := range Precisions {
		if q == p {
			return i
		}
	}
	return -1
}

// ParsePrecisions reads a comma-separated list such as "int4,int8,float"
// and returns it cheapest first. Float is always allowed (a layer can
// always be left in float), so it is added when missing.
func ParsePrecisions(s string) ([]Precision, error) {
	seen := map[Precision]bool{Float: true}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		p := Precision(part)
		if p.rank() < 0 {
			return nil, fmt.Errorf("unknown precision %q (want int4, int8, int16 or float)", part)
		}
		seen[p] = true
	}
	var out []Precision
	for _, p := range Precisions {
		if seen[p] {
			out = append(out, p)
		}
	}
	if len(out) == 1 {
		return nil, fmt.Errorf("precisions %q: name at least one of int4, int8, int16", s)
	}
	return out, nil
}

// DescribeSettings counts layers per setting, cheapest first:
// "12 int4, 3 int8, 1 float".
func DescribeSettings(settings map[string]Setting) string {
	count := map[Setting]int{}
	for _, s := range settings {
		count[s]++
	}
	keys := make([]Setting, 0, len(count))
	for s := range count {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].bits() < keys[j].bits() })
	parts := make([]string, len(keys))
	for i, s := range keys {
		parts[i] = fmt.Sprintf("%d %s", count[s], s)
	}
	return strings.Join(parts, ", ")
}

// bits orders settings by cost: weight bits first (float last), then
// activation bits.
func (s Setting) bits() int {
	w, a := s.WeightBits, s.ActBits
	if s.IsFloat() {
		w, a = 32, 32
	}
	return w*100 + a
}
