package inspect

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report as readable tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }

	var opsets []string
	for _, o := range r.OpsetImport {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		opsets = append(opsets, d+" "+strconv.FormatInt(o.Version, 10))
	}
	producer := strings.TrimSpace(r.ProducerName + " " + r.ProducerVersion)
	if producer == "" {
		producer = "(not stated)"
	}
	row("IR version", strconv.FormatInt(r.IRVersion, 10))
	row("opset imports", strings.Join(opsets, ", "))
	row("producer", producer)
	row("file size", bytesText(r.FileBytes))
	row("external data", bytesText(r.ExternalDataBytes))
	row("nodes", thousands(int64(r.NodeCount))+subgraphText(r.SubgraphCount))
	row("initializer params", thousands(r.InitializerParams))
	row("Constant-node params", thousands(r.ConstantParams))
	row("")
	writeIO(row, "input", r.Inputs)
	row("")
	writeIO(row, "output", r.Outputs)
	row("")
	row("op type", "count")
	for _, op := range r.sortedOps() {
		row(op, strconv.Itoa(r.OpTypes[op]))
	}
	return tw.Flush()
}

// subgraphText says where the nodes were counted.
func subgraphText(n int) string {
	switch n {
	case 0:
		return " (no subgraphs)"
	case 1:
		return " (main graph and 1 subgraph)"
	}
	return fmt.Sprintf(" (main graph and %d subgraphs)", n)
}

func writeIO(row func(...string), kind string, vs []IOInfo) {
	row(kind, "type", "shape")
	if len(vs) == 0 {
		row("(none)")
	}
	for _, v := range vs {
		typ := v.ElemType
		if typ == "" {
			typ = "?"
		}
		row(v.Name, typ, ShapeText(v.Shape))
	}
}

// ShapeText writes a shape as [1, 3, H, W]: "?" for an unknown dim, and
// "unknown" when not even the rank is known.
func ShapeText(shape []any) string {
	if shape == nil {
		return "unknown"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		switch x := d.(type) {
		case nil:
			parts[i] = "?"
		default:
			parts[i] = fmt.Sprint(x)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// sortedOps lists op types by count, most frequent first, then by name.
func (r *Report) sortedOps() []string {
	ops := make([]string, 0, len(r.OpTypes))
	for op := range r.OpTypes {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		ci, cj := r.OpTypes[ops[i]], r.OpTypes[ops[j]]
		if ci != cj {
			return ci > cj
		}
		return ops[i] < ops[j]
	})
	return ops
}

// bytesText writes a byte count exactly and, above 1 KiB, in binary units.
func bytesText(n int64) string {
	s := thousands(n) + " bytes"
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	u := -1
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u >= 0 {
		s += fmt.Sprintf(" (%.1f %s)", f, units[u])
	}
	return s
}

// thousands writes n with comma separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
