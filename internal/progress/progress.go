// Package progress shows progress bars for long work (calibration,
// training, evaluation) on the terminal.
//
// A bar is drawn only when its writer is a terminal and the user did not
// ask for quiet (the CLI's global --quiet flag); otherwise every method is
// a no-op, so output piped to a file or read by a script stays clean.
// Bars write to stderr by convention, never to stdout, which carries the
// command's result (text or --json).
//
//	bar := progress.New(os.Stderr, quiet, int64(len(batches)), "calibrating")
//	for _, b := range batches {
//		...
//		bar.Add(1)
//	}
//	bar.Finish()
package progress

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar is a progress bar, or a no-op when disabled. The zero value and a nil
// *Bar are disabled bars.
type Bar struct {
	b *progressbar.ProgressBar
}

// Enabled reports whether a bar written to w is shown: w must be a
// terminal and quiet false.
func Enabled(w io.Writer, quiet bool) bool {
	if quiet {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// New returns a bar for total steps (-1 when the total is unknown: a
// spinner) labelled desc, drawn on w when Enabled(w, quiet).
func New(w io.Writer, quiet bool, total int64, desc string) *Bar {
	if !Enabled(w, quiet) {
		return &Bar{}
	}
	return draw(w, total, desc)
}

// draw returns a bar that always writes to w.
func draw(w io.Writer, total int64, desc string) *Bar {
	return &Bar{b: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
	)}
}

// Add advances the bar by n steps.
func (b *Bar) Add(n int64) {
	if b != nil && b.b != nil {
		_ = b.b.Add64(n)
	}
}

// Describe changes the bar's label.
func (b *Bar) Describe(desc string) {
	if b != nil && b.b != nil {
		b.b.Describe(desc)
	}
}

// Finish completes the bar and ends its line.
func (b *Bar) Finish() {
	if b != nil && b.b != nil {
		_ = b.b.Finish()
	}
}
