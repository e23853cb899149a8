package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestDisabledWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	if Enabled(&buf, false) {
		t.Fatal("a bytes.Buffer is not a terminal, yet the bar is enabled")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if Enabled(f, false) {
		t.Fatal("a regular file is not a terminal, yet the bar is enabled")
	}
	bar := New(&buf, false, 10, "work")
	for i := 0; i < 10; i++ {
		bar.Add(1)
	}
	bar.Finish()
	if buf.Len() != 0 {
		t.Fatalf("disabled bar wrote %q", buf.String())
	}
}

func TestQuietDisables(t *testing.T) {
	if Enabled(os.Stderr, true) {
		t.Fatal("quiet must disable the bar even on a terminal")
	}
}

func TestNilAndZeroBarsAreNoOps(t *testing.T) {
	var nilBar *Bar
	nilBar.Add(1)
	nilBar.Describe("x")
	nilBar.Finish()
	var zero Bar
	zero.Add(1)
	zero.Finish()
}

func TestDrawnBarShowsCountAndEndsLine(t *testing.T) {
	var buf bytes.Buffer
	bar := draw(&buf, 4, "calibrating")
	for i := 0; i < 4; i++ {
		bar.Add(1)
	}
	bar.Finish()
	out := buf.String()
	if !strings.Contains(out, "calibrating") || !strings.Contains(out, "4/4") {
		t.Fatalf("bar output %q lacks the label or the final count 4/4", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("finished bar does not end its line: %q", out)
	}
}
