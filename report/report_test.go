package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
	"github.com/onnxq/onnxq/tune"
)

// chromium returns the headless browser the report test opens pages in:
// $ONNXQ_CHROMIUM, or chromium on the PATH (Debian's package; .ci/run
// installs it). The test fails without it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ONNXQ_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (apt-get install chromium; .ci/run installs it): the report test opens the HTML report in it")
	return ""
}

// headless runs chromium on a page with the flags of a sandbox-less,
// offline, throw-away profile, plus args.
func headless(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.Command(chromium(t), append(append(base, args...), "file://"+page)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("chromium %v did not finish in 2 minutes", args)
	}
	return out.Bytes()
}

// analysis measures mnist-7 on a few images: a real analysis and budget
// search to report.
func analysis(t *testing.T) (*tune.Analysis, *tune.SearchResult) {
	t.Helper()
	m, err := graph.FromFile(testdata.Path(t, "mnist-7.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(file string, n int) dataset.Source {
		src, err := dataset.OpenMNIST(testdata.Path(t, "mnist/"+file), dataset.MNISTPresets["mnist-7"])
		if err != nil {
			t.Fatal(err)
		}
		s, err := dataset.Slice(src, 0, n)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	labels, err := dataset.ReadIDXLabels(testdata.Path(t, "mnist/t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tune.NewSession(m, open("train-images-idx3-ubyte.gz", 100), tune.EvalData{Source: open("t10k-images-idx3-ubyte.gz", 300), Labels: labels[:300]},
		ptq.Defaults(), tune.Options{Opset21: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tune.Analyze(s, tune.AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drop := 1.0
	r, err := tune.Search(s, tune.SearchOptions{Budget: tune.Budget{MaxDrop: &drop}})
	if err != nil {
		t.Fatal(err)
	}
	return a, r
}

// TestReportOpensInABrowser writes the report of a real analysis and
// budget search of mnist-7 and opens it in headless Chromium: the page
// renders, every plot it shows is an SVG the browser decoded (the page's
// script counts the images that loaded), and a screenshot is taken.
func TestReportOpensInABrowser(t *testing.T) {
	a, r := analysis(t)
	dir := t.TempDir()
	page := &Page{Title: "onnxq analyze: mnist-7", Model: "mnist-7.onnx", Analysis: a, Search: r}
	if err := Write(dir, page, Options{}); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "index.html")
	html, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	imgs := regexp.MustCompile(`<img src="([^"]+)"`).FindAllStringSubmatch(string(html), -1)
	if len(imgs) < 6 {
		t.Fatalf("the page shows %d images, want the sensitivity bars, two trade-off plots and histograms", len(imgs))
	}
	for _, m := range imgs {
		if !strings.HasSuffix(m[1], ".svg") {
			t.Errorf("image %s is not an SVG", m[1])
		}
		checkSVG(t, filepath.Join(dir, m[1]))
	}
	dom := string(headless(t, index, "--dump-dom", "--virtual-time-budget=5000"))
	want := regexp.MustCompile(`data-images-loaded="(\d+)/(\d+)"`).FindStringSubmatch(dom)
	if want == nil {
		t.Fatalf("the page's load script did not run: no data-images-loaded in the DOM:\n%.2000s", dom)
	}
	if want[1] != want[2] || want[2] != strconv.Itoa(len(imgs)) {
		t.Errorf("the browser loaded %s of %s images, the page has %d", want[1], want[2], len(imgs))
	}
	for _, s := range []string{"Per-layer sensitivity", "Activation ranges", "Mixed precision for a budget", "Times212_gemm"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the rendered page lacks %q", s)
		}
	}
	shot := filepath.Join(dir, "screenshot.png")
	headless(t, index, "--screenshot="+shot, "--window-size=1200,2400", "--hide-scrollbars")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("no screenshot: %v", err)
	}
	if keep := os.Getenv("ONNXQ_REPORT_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSVG checks that a file is well-formed XML with an svg root element
// holding drawing elements.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	root, shapes := "", 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", filepath.Base(path), err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			switch se.Name.Local {
			case "path", "text", "rect", "line", "polyline":
				shapes++
			}
		}
	}
	if root != "svg" || shapes < 10 {
		t.Errorf("%s: root <%s>, %d drawing elements", filepath.Base(path), root, shapes)
	}
}
