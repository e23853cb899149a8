package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/internal/progress"
)

// Conventions shared by the commands:
//   - a command that produces a result takes jsonFlag; with --json it
//     writes one JSON document to stdout (writeResult), else readable text;
//   - long work shows a bar on stderr (newProgress), silenced by the
//     global --quiet flag and whenever stderr is not a terminal;
//   - errors are returned from the Action (see run.go), never printed.

// jsonFlag is the --json flag of commands that produce a result.
var jsonFlag = &cli.BoolFlag{
	Name:  "json",
	Usage: "write the result as JSON (stable keys; see docs/cli.md) instead of text",
}

// quietFlag is the global --quiet flag.
var quietFlag = &cli.BoolFlag{
	Name:    "quiet",
	Aliases: []string{"q"},
	Usage:   "no progress bars",
}

// globalFlags are the flags written before (or, thanks to reorderArgs,
// after) the command.
func globalFlags() []cli.Flag {
	return []cli.Flag{quietFlag}
}

// writeResult writes v as indented JSON when --json is set, else calls
// text with stdout.
func writeResult(c *cli.Context, v any, text func(*cli.Context) error) error {
	if !c.Bool(jsonFlag.Name) {
		return text(c)
	}
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newProgress returns a progress bar on stderr for total steps (see
// internal/progress); it draws nothing under --quiet or when stderr is not
// a terminal.
func newProgress(c *cli.Context, total int64, desc string) *progress.Bar {
	return progress.New(c.App.ErrWriter, c.Bool(quietFlag.Name), total, desc)
}
