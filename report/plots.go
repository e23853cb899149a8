package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/onnxq/onnxq/tune"
)

// Colours of the plots (colour-blind safe: Okabe-Ito).
var (
	blue   = color.RGBA{0, 114, 178, 255}
	orange = color.RGBA{230, 159, 0, 255}
	green  = color.RGBA{0, 158, 115, 255}
	red    = color.RGBA{213, 94, 0, 255}
	grey   = color.RGBA{120, 120, 120, 255}
	purple = color.RGBA{204, 121, 167, 255}
)

// svg renders a plot as SVG of the given size in points.
func svg(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// finite replaces infinities by a cap so they can be drawn; capped says
// whether any was.
func finite(x, lo, hi float64) (float64, bool) {
	switch {
	case math.IsInf(x, 1) || x > hi:
		return hi, true
	case math.IsInf(x, -1) || x < lo:
		return lo, true
	case math.IsNaN(x):
		return lo, true
	}
	return x, false
}

// sqnrBounds returns drawing bounds for SQNR values: the finite extremes
// with a margin (infinite values are drawn at the bounds).
func sqnrBounds(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	return math.Min(lo, 0), hi + 10
}

// sensitivityPlot draws, per layer (most sensitive at the top), the SQNR
// of the model with the layer quantized alone and the SQNR gained by
// leaving it in float.
func sensitivityPlot(a *tune.Analysis, maxLayers int) ([]byte, vg.Length, error) {
	ls := a.Layers
	if len(ls) > maxLayers {
		ls = ls[:maxLayers]
	}
	n := len(ls)
	var all []float64
	for _, l := range ls {
		all = append(all, float64(l.Alone.SQNR), float64(l.Gain))
	}
	lo, hi := sqnrBounds(all)
	alone := make(plotter.Values, n)
	gain := make(plotter.Values, n)
	names := make([]string, n)
	for i, l := range ls {
		// The most sensitive layer goes at the top: the last Y position.
		k := n - 1 - i
		alone[k], _ = finite(float64(l.Alone.SQNR), lo, hi)
		gain[k], _ = finite(float64(l.Gain), lo, hi)
		names[k] = fmt.Sprintf("%d. %s (%s)", l.Rank, shorten(l.Name, 40), l.Op)
	}
	p := plot.New()
	p.Title.Text = "Per-layer sensitivity (most sensitive at the top)"
	p.X.Label.Text = "dB"
	barH := vg.Points(5)
	b1, err := plotter.NewBarChart(alone, barH)
	if err != nil {
		return nil, 0, err
	}
	b1.Horizontal, b1.Color, b1.LineStyle.Width, b1.Offset = true, blue, 0, -barH/2
	b2, err := plotter.NewBarChart(gain, barH)
	if err != nil {
		return nil, 0, err
	}
	b2.Horizontal, b2.Color, b2.LineStyle.Width, b2.Offset = true, orange, 0, barH/2
	p.Add(b1, b2, plotter.NewGrid())
	p.NominalY(names...)
	// A margin between the layer names and bars that start at 0.
	p.X.Min = math.Min(lo, 0) - 0.03*(hi-lo)
	h := vg.Points(float64(14*n + 110))
	out, err := svg(p, vg.Points(760), h)
	return out, h, err
}

// histogramPlot draws one activation group's calibration histogram (log
// counts) with the chosen clipping range.
func histogramPlot(ar *tune.ActivationRange) ([]byte, error) {
	p := plot.New()
	p.Title.Text = shorten(ar.Name, 60)
	p.X.Label.Text = "value"
	p.Y.Label.Text = "count"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var bins []plotter.HistogramBin
	maxCount := 1.0
	for i, c := range ar.Counts {
		bins = append(bins, plotter.HistogramBin{Min: ar.Edges[i], Max: ar.Edges[i+1], Weight: float64(c)})
		maxCount = math.Max(maxCount, float64(c))
	}
	h := &plotter.Histogram{Bins: bins, Width: ar.Edges[1] - ar.Edges[0], FillColor: color.RGBA{0, 114, 178, 160}, LineStyle: draw.LineStyle{Width: 0}, LogY: true}
	p.Add(h)
	for _, x := range []struct {
		v     float64
		label string
	}{{ar.Lo, "lo"}, {ar.Hi, "hi"}} {
		l, err := plotter.NewLine(plotter.XYs{{X: x.v, Y: 1}, {X: x.v, Y: maxCount * 2}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = red, vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
	}
	p.Y.Min, p.Y.Max = 0.5, maxCount*3
	return svg(p, vg.Points(380), vg.Points(230))
}

// series is one set of points of the trade-off plot.
type series struct {
	label string
	color color.Color
	shape draw.GlyphDrawer
	line  bool
	pts   []point
}

type point struct {
	size  float64 // bytes
	value float64
	label string
}

// tradeoffPlot draws model size against a quality measure (SQNR or
// top-1), one series per kind of model, with an optional budget line.
func tradeoffPlot(title, ylabel string, ss []series, budget *float64, ylo, yhi float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "model size (KiB)"
	p.Y.Label.Text = ylabel
	minX, maxX := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.pts))
		for i, pt := range s.pts {
			v, _ := finite(pt.value, ylo, yhi)
			xys[i] = plotter.XY{X: pt.size / 1024, Y: v}
			minX, maxX = math.Min(minX, xys[i].X), math.Max(maxX, xys[i].X)
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = s.color, vg.Points(3.5), draw.CircleGlyph{}
		if s.shape != nil {
			sc.GlyphStyle.Shape = s.shape
		}
		if _, ring := s.shape.(draw.RingGlyph); ring {
			sc.GlyphStyle.Radius = vg.Points(7)
		}
		p.Add(sc)
		if s.line && len(xys) > 1 {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			l.Color = s.color
			p.Add(l)
		}
	}
	if budget != nil && !math.IsInf(minX, 0) {
		l, err := plotter.NewLine(plotter.XYs{{X: minX, Y: *budget}, {X: maxX, Y: *budget}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Dashes = red, []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
	}
	p.Add(plotter.NewGrid())
	p.Y.Tick.Marker = decimalTicks{}
	return svg(p, vg.Points(560), vg.Points(340))
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// decimalTicks are gonum's default ticks labelled with as many decimals as
// their spacing needs (the default labels round 98.4 and 98.6 to 98).
type decimalTicks struct{}

func (decimalTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	var major []float64
	for _, t := range ts {
		if t.Label != "" {
			major = append(major, t.Value)
		}
	}
	prec := 0
	if len(major) > 1 {
		step := math.Abs(major[1] - major[0])
		for prec < 6 && step*math.Pow(10, float64(prec)) < 0.999 {
			prec++
		}
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', prec, 64)
		}
	}
	return ts
}

// legendItem is one entry of a plot's legend, drawn by the page.
type legendItem struct {
	Label  string
	Colour string // CSS colour
	Dashed bool
}

func css(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02x%02x%02x", r>>8, g>>8, b>>8)
}
