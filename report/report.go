// Package report writes what onnxq analyze and a budgeted insert-qdq
// found as a folder people can read: index.html with SVG plots (drawn
// with gonum.org/v1/plot) of per-layer sensitivity, activation histograms
// with their clipping ranges and the accuracy / size trade-off, tables of
// the ranked layers and the chosen precisions, and the same data as
// report.json for programs.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot/vg/draw"

	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/tune"
)

// Page is what one report shows; Analysis and Search are optional (at
// least one is needed).
type Page struct {
	Title string `json:"title"`
	// Model is the model file the report is about.
	Model    string              `json:"model"`
	Analysis *tune.Analysis      `json:"analysis,omitempty"`
	Search   *tune.SearchResult  `json:"search,omitempty"`
	Notes    []string            `json:"notes,omitempty"`
	Extra    map[string]any      `json:"extra,omitempty"`
	files    map[string][]byte   // plot files by name
	plots    map[string]plotInfo // plot name -> what the page says of it
	hists    []histInfo
}

type plotInfo struct {
	File    string
	Caption string
	Height  float64 // points
	Legend  []legendItem
}

type histInfo struct {
	File, Layer, Group string
	Lo, Hi             float64
}

// Options adjust Write.
type Options struct {
	// MaxLayers bounds the layers drawn in the sensitivity plot (default
	// 40; the table lists all).
	MaxLayers int
	// Histograms is how many of the most sensitive layers get an
	// activation histogram (default 12).
	Histograms int
}

// Write writes the report into dir (created if needed): index.html, the
// SVG plots it shows and report.json. Files are written atomically; other
// files in dir are left alone.
func Write(dir string, p *Page, opts Options) error {
	if p.Analysis == nil && p.Search == nil {
		return fmt.Errorf("report: nothing to report (no analysis and no search)")
	}
	if opts.MaxLayers <= 0 {
		opts.MaxLayers = 40
	}
	if opts.Histograms <= 0 {
		opts.Histograms = 12
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p.files = map[string][]byte{}
	p.plots = map[string]plotInfo{}
	if err := p.draw(opts); err != nil {
		return err
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	p.files["report.json"] = append(data, '\n')
	var html bytes.Buffer
	if err := pageTemplate.Execute(&html, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	p.files["index.html"] = html.Bytes()
	for name, b := range p.files {
		if err := onnxio.WriteFileAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// draw renders every plot of the page.
func (p *Page) draw(opts Options) error {
	if a := p.Analysis; a != nil && len(a.Layers) > 0 {
		b, h, err := sensitivityPlot(a, opts.MaxLayers)
		if err != nil {
			return fmt.Errorf("report: sensitivity plot: %w", err)
		}
		caption := "Blue: the output SQNR of the model with only this layer quantized (lower is more sensitive). Orange: how much the SQNR of the fully quantized model rises when this layer alone stays in float."
		if len(a.Layers) > opts.MaxLayers {
			caption += fmt.Sprintf(" The %d most sensitive of %d layers are drawn; the table lists all.", opts.MaxLayers, len(a.Layers))
		}
		p.add("sensitivity", "sensitivity.svg", b, caption, float64(h),
			legendItem{Label: fmt.Sprintf("output SQNR with only this layer at %s", a.Precision), Colour: css(blue)},
			legendItem{Label: fmt.Sprintf("SQNR gained by leaving only this layer in float"), Colour: css(orange)})
		if err := p.histograms(a, opts.Histograms); err != nil {
			return err
		}
	}
	return p.tradeoff()
}

func (p *Page) add(key, file string, b []byte, caption string, height float64, legend ...legendItem) {
	p.files[file] = b
	p.plots[key] = plotInfo{File: file, Caption: caption, Height: height, Legend: legend}
}

// histograms draws the output activation of the most sensitive layers.
func (p *Page) histograms(a *tune.Analysis, n int) error {
	byName := map[string]*tune.ActivationRange{}
	for i := range a.Activations {
		byName[a.Activations[i].Name] = &a.Activations[i]
	}
	done := map[string]bool{}
	for _, l := range a.Layers {
		if len(p.hists) >= n {
			break
		}
		for _, g := range []string{l.Input, l.Output} {
			ar := byName[g]
			if ar == nil || done[g] || len(p.hists) >= n {
				continue
			}
			done[g] = true
			b, err := histogramPlot(ar)
			if err != nil {
				return fmt.Errorf("report: histogram of %s: %w", g, err)
			}
			file := fmt.Sprintf("hist-%02d.svg", len(p.hists)+1)
			p.files[file] = b
			p.hists = append(p.hists, histInfo{File: file, Layer: l.Name, Group: g, Lo: ar.Lo, Hi: ar.Hi})
		}
	}
	return nil
}

// tradeoff draws size against SQNR (and top-1 with labels) for the
// analysis curve and the search steps.
func (p *Page) tradeoff() error {
	var sq, t1 []series
	var all []float64
	if a := p.Analysis; a != nil {
		s := series{label: "int8 with the k most sensitive layers in float", color: blue, line: true}
		for _, c := range a.Curve {
			s.pts = append(s.pts, point{size: float64(c.Size), value: float64(c.SQNR), label: c.Label})
			all = append(all, float64(c.SQNR))
		}
		sq = append(sq, s)
		if a.Float.Top1 != nil {
			s1 := series{label: s.label, color: blue, line: true}
			for _, c := range a.Curve {
				if c.Top1 != nil {
					s1.pts = append(s1.pts, point{size: float64(c.Size), value: 100 * *c.Top1, label: c.Label})
				}
			}
			t1 = append(t1, s1)
		}
	}
	if r := p.Search; r != nil {
		kinds := []struct {
			name, label string
			color       color.Color
		}{{"baseline", "searched: int8 + float (baseline)", orange}, {"mixed", "searched: mixed precision, up from the cheapest", green}, {"refine", "searched: mixed precision, down from the baseline", purple}}
		for _, k := range kinds {
			s := series{label: k.label, color: k.color, shape: draw.SquareGlyph{}}
			s1 := s
			for _, st := range r.Steps {
				if st.Search != k.name {
					continue
				}
				s.pts = append(s.pts, point{size: float64(st.Size), value: float64(st.SQNR), label: st.Label})
				all = append(all, float64(st.SQNR))
				if st.Top1 != nil {
					s1.pts = append(s1.pts, point{size: float64(st.Size), value: 100 * *st.Top1, label: st.Label})
				}
			}
			sq = append(sq, s)
			t1 = append(t1, s1)
		}
		chosen := series{label: "chosen", color: red, shape: draw.RingGlyph{}, pts: []point{{size: float64(r.Measurement.Size), value: float64(r.Measurement.SQNR)}}}
		sq = append(sq, chosen)
		if r.Measurement.Top1 != nil {
			t1 = append(t1, series{label: "chosen", color: red, shape: draw.RingGlyph{}, pts: []point{{size: float64(r.Measurement.Size), value: 100 * *r.Measurement.Top1}}})
		}
	}
	if len(sq) == 0 {
		return nil
	}
	lo, hi := sqnrBounds(all)
	var sqBudget, t1Budget *float64
	if r := p.Search; r != nil {
		sqBudget = r.Budget.MinSQNR
		if r.Budget.MaxDrop != nil && r.FloatTop1 != nil {
			b := 100**r.FloatTop1 - *r.Budget.MaxDrop
			t1Budget = &b
		}
	}
	b, err := tradeoffPlot("Output SQNR against model size", "worst output SQNR (dB)", sq, sqBudget, lo, hi)
	if err != nil {
		return fmt.Errorf("report: trade-off plot: %w", err)
	}
	p.add("tradeoff_sqnr", "tradeoff-sqnr.svg", b, "Each point is one model measured on the evaluation data. The float model's SQNR is infinite: it is drawn at the top edge.", 340, legendOf(sq, sqBudget != nil)...)
	if hasPoints(t1) {
		b, err := tradeoffPlot("Top-1 accuracy against model size", "top-1 (%)", t1, t1Budget, 0, 100)
		if err != nil {
			return fmt.Errorf("report: trade-off plot: %w", err)
		}
		p.add("tradeoff_top1", "tradeoff-top1.svg", b, "Top-1 accuracy on the labelled evaluation data.", 340, legendOf(t1, t1Budget != nil)...)
	}
	return nil
}

func legendOf(ss []series, budget bool) []legendItem {
	var out []legendItem
	for _, s := range ss {
		if len(s.pts) > 0 {
			out = append(out, legendItem{Label: s.label, Colour: css(s.color)})
		}
	}
	if budget {
		out = append(out, legendItem{Label: "budget", Colour: css(red), Dashed: true})
	}
	return out
}

func hasPoints(ss []series) bool {
	for _, s := range ss {
		if len(s.pts) > 0 {
			return true
		}
	}
	return false
}

// db formats a dB value for the tables.
func db(x tune.Num) string {
	f := float64(x)
	switch {
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "−∞"
	case math.IsNaN(f):
		return "NaN"
	}
	return fmt.Sprintf("%.2f", f)
}

func pct(x *float64) string {
	if x == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100**x)
}

func kib(n int64) string { return fmt.Sprintf("%.1f KiB", float64(n)/1024) }
