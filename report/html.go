package report

import (
	"html/template"

	"github.com/onnxq/onnxq/tune"
)

var funcs = template.FuncMap{
	"db":  db,
	"pct": pct,
	"kib": kib,
	"plot": func(p *Page, key string) *plotInfo {
		if pi, ok := p.plots[key]; ok {
			return &pi
		}
		return nil
	},
	"hists": func(p *Page) []histInfo { return p.hists },
	"chosen": func(r *tune.SearchResult) []chosenRow {
		var rows []chosenRow
		for _, l := range r.Layers {
			rows = append(rows, chosenRow{Layer: l, Setting: r.Chosen[l.Name].String()})
		}
		return rows
	},
	"counts": func(r *tune.SearchResult) string { return tune.DescribeSettings(r.Chosen) },
	"budget": func(b tune.Budget) string { return b.String() },
}

type chosenRow struct {
	tune.Layer
	Setting string
}

var pageTemplate = template.Must(template.Must(template.New("page").Funcs(funcs).Parse(`{{define "legend"}}<div class="legend">{{range .Legend}}<span class="sw{{if .Dashed}} dashed{{end}}" style="{{if .Dashed}}border-color{{else}}background{{end}}: {{.Colour}}"></span>{{.Label}}{{end}}</div>{{end}}`)).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f4f4f4; }
td.name, th.name { text-align: left; font-family: ui-monospace, "Liberation Mono", monospace; font-size: 0.95em; max-width: 420px; overflow-wrap: anywhere; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 800px; }
.legend { margin: 0.3em 0; font-size: 0.9em; }
.legend span.sw { display: inline-block; width: 14px; height: 10px; margin: 0 0.3em 0 1em; vertical-align: middle; }
.legend span.sw.dashed { height: 0; border-top: 2px dashed; width: 18px; }
.hists { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 0.8em; }
.hists figure { margin: 0; }
.why { background: #f6f9fc; border-left: 4px solid #0072b2; padding: 0.6em 1em; }
.scroll { max-height: 600px; overflow-y: auto; display: inline-block; }
.int4 { background: #e8f5e9; } .int8 { } .int16 { background: #fff8e1; } .float { background: #fdecea; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Model}}</p>

{{with .Analysis}}
<table>
<tr><th class="name">model</th><th>output SQNR</th><th>top-1</th><th>size</th></tr>
<tr><td class="name">float</td><td>{{db .Float.SQNR}}</td><td>{{pct .Float.Top1}}</td><td>{{kib .Float.Size}}</td></tr>
<tr><td class="name">all layers {{.Precision}}</td><td>{{db .Quantized.SQNR}} dB</td><td>{{pct .Quantized.Top1}}</td><td>{{kib .Quantized.Size}}</td></tr>
</table>
<p>{{len .Layers}} layers; activation ranges by <b>{{.Method}}</b> calibration on {{.CalibSamples}} samples; measured on {{.EvalSamples}} evaluation samples against the float model.</p>
{{end}}

{{with .Search}}
<h2 id="budget">Mixed precision for a budget</h2>
<p>Budget: <b>{{budget .Budget}}</b>; allowed precisions: {{range $i, $p := .Precisions}}{{if $i}}, {{end}}{{$p}}{{end}}.</p>
<p class="why">{{.Why}}</p>
<table>
<tr><th class="name">model</th><th>output SQNR</th><th>top-1</th><th>size</th></tr>
<tr><td class="name">chosen ({{counts .}})</td><td>{{db .Measurement.SQNR}} dB</td><td>{{pct .Measurement.Top1}}</td><td>{{kib .Measurement.Size}}</td></tr>
{{with .Baseline}}<tr><td class="name">int8 baseline, {{$.Search.BaselineFloats}} layer(s) in float</td><td>{{db .SQNR}} dB</td><td>{{pct .Top1}}</td><td>{{kib .Size}}</td></tr>{{end}}
{{with .Mixed}}<tr><td class="name">best mixed precision ({{.Label}})</td><td>{{db .SQNR}} dB</td><td>{{pct .Top1}}</td><td>{{kib .Size}}</td></tr>{{end}}
<tr><td class="name">float</td><td>∞</td><td>{{pct .FloatTop1}}</td><td></td></tr>
</table>
<h3>Chosen precision per layer</h3>
<div class="scroll"><table>
<tr><th class="name">layer</th><th class="name">op</th><th>weights</th><th>precision</th></tr>
{{range chosen .}}<tr class="{{.Setting}}"><td class="name">{{.Name}}</td><td class="name">{{.Op}}</td><td>{{.Params}}</td><td>{{.Setting}}</td></tr>
{{end}}</table></div>
<h3>Models measured</h3>
<table>
<tr><th class="name">search</th><th class="name">model</th><th>SQNR</th><th>top-1</th><th>size</th><th>keeps budget</th></tr>
{{range .Steps}}<tr><td class="name">{{.Search}}</td><td class="name">{{.Label}}</td><td>{{db .SQNR}}</td><td>{{pct .Top1}}</td><td>{{kib .Size}}</td><td>{{if .Meets}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>
{{end}}

<h2 id="tradeoff">Accuracy and size</h2>
{{with plot . "tradeoff_sqnr"}}<figure><img src="{{.File}}" alt="trade-off between output SQNR and model size">{{template "legend" .}}<figcaption>{{.Caption}}</figcaption></figure>{{end}}
{{with plot . "tradeoff_top1"}}<figure><img src="{{.File}}" alt="trade-off between top-1 accuracy and model size">{{template "legend" .}}<figcaption>{{.Caption}}</figcaption></figure>{{end}}

{{with .Analysis}}
<h2 id="sensitivity">Per-layer sensitivity</h2>
{{with plot $ "sensitivity"}}<figure><img src="{{.File}}" alt="per-layer sensitivity bars">{{template "legend" .}}<figcaption>{{.Caption}}</figcaption></figure>{{end}}
<div class="scroll"><table>
<tr><th>rank</th><th class="name">layer</th><th class="name">op</th><th>weights</th><th>SQNR alone</th><th>top-1 alone</th><th>SQNR, left in float</th><th>gain</th><th>top-1, left in float</th></tr>
{{range .Layers}}<tr><td>{{.Rank}}</td><td class="name">{{.Name}}</td><td class="name">{{.Op}}</td><td>{{.Params}}</td><td>{{if .FloatAlone}}float alone*{{else}}{{db .Alone.SQNR}}{{end}}</td><td>{{pct .Alone.Top1}}</td><td>{{db .LeftFloat.SQNR}}</td><td>{{db .Gain}}</td><td>{{pct .LeftFloat.Top1}}</td></tr>
{{end}}</table></div>
<p class="sub">* float alone: quantized alone, the layer stays in float (the quantizer keeps it in float between float neighbours, where Q/DQ would only add conversions).</p>

<h2 id="ranges">Activation ranges</h2>
<p>Calibration histograms (log counts) of the activations read and written by the most sensitive layers, with the range the <b>{{.Method}}</b> method chose (values outside it are clipped).</p>
<div class="hists">
{{range hists $}}<figure><img src="{{.File}}" alt="histogram of {{.Group}}"><figcaption>{{.Group}} (layer {{.Layer}}): range <span style="color:#d55e00">[{{printf "%.4g" .Lo}}, {{printf "%.4g" .Hi}}]</span> (dashed)</figcaption></figure>
{{end}}</div>
{{end}}

{{range .Notes}}<p>{{.}}</p>{{end}}
<p class="sub">Data: <a href="report.json">report.json</a>. Written by onnxq.</p>
<script>
// Record whether every plot loaded, for readers and for tests of the page.
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  }
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
});
</script>
</body>
</html>
`))
