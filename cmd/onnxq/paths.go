package main

import (
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/internal/outpath"
	"github.com/onnxq/onnxq/onnxio"
)

// commandPaths is, for every command that writes files, the flags naming
// what it reads and what it writes. Before a command's Action runs,
// checkPaths hands them to internal/outpath, which refuses an output that
// is one of the inputs (or another output), that is not a regular file, or
// whose folder is not writable. The positional arguments (the models) are
// inputs of every command, with their external data files. A flag that
// names a file to read or write must be listed here.
var commandPaths = map[string]pathFlags{
	"run":        {reads: []string{"data", "mnist", "ort-lib"}, writes: []string{"output"}},
	"calibrate":  {reads: []string{"calib", "merge", "config"}, writes: []string{"output"}},
	"insert-qdq": {reads: []string{"calib", "stats", "config", "eval", "eval-labels", "ort-lib"}, writes: []string{"output", "report", "save-config"}, folders: []string{"html"}},
	"quantize":   {reads: []string{"calib", "stats", "config", "eval", "eval-labels", "train", "ort-lib"}, writes: []string{"output", "report", "save-config"}, folders: []string{"html"}},
	"finetune":   {reads: []string{"data", "calib", "labels-file", "teacher", "eval", "eval-labels-file", "config"}, writes: []string{"output", "checkpoint"}},
	"export":     {writes: []string{"output"}},
	"analyze":    {reads: []string{"calib", "eval", "eval-labels", "config", "ort-lib"}, folders: []string{"report"}},
}

// pathFlags are the file flags of one command.
type pathFlags struct {
	reads   []string // files or folders read (a --teacher model with its external data)
	writes  []string // files written
	folders []string // folders filled with an HTML report (reportFiles)
}

// reportFiles are the names report.Write gives the files of a report
// folder.
var reportFiles = []string{"index.html", "report.json", "*.svg"}

// checkedAction runs the path check of commandPaths before action.
func checkedAction(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := checkPaths(c); err != nil {
			return err
		}
		return action(c)
	}
}

// checkPaths applies the output-path policy to the command's files.
func checkPaths(c *cli.Context) error {
	pf, ok := commandPaths[c.Command.Name]
	if !ok {
		return nil
	}
	var plan outpath.Plan
	for _, model := range c.Args().Slice() {
		if err := addModel(&plan, "the input model", model); err != nil {
			return err
		}
	}
	for _, name := range pf.reads {
		for _, p := range flagPaths(c, name) {
			if name == "teacher" {
				if err := addModel(&plan, "--teacher", p); err != nil {
					return err
				}
				continue
			}
			plan.Inputs = append(plan.Inputs, outpath.File{Flag: flagLabel(name), Path: p})
		}
	}
	for _, name := range pf.writes {
		if c.IsSet(name) && c.String(name) == "" {
			return userErrorf("%s: empty path; name the file to write", flagLabel(name))
		}
		plan.Outputs = append(plan.Outputs, outpath.File{Flag: flagLabel(name), Path: c.String(name)})
	}
	if out := c.String("output"); out != "" && hasBudgetFlags(c) && c.String("save-config") == "" {
		plan.Outputs = append(plan.Outputs, outpath.File{Flag: "the budget's config file (--save-config default)", Path: budgetConfigPath(c)})
	}
	for _, name := range pf.folders {
		plan.Outputs = append(plan.Outputs, outpath.File{Flag: flagLabel(name), Path: c.String(name), Folder: true, Writes: reportFiles})
	}
	if err := outpath.Check(plan); err != nil {
		return userErrorf("%v", err)
	}
	return nil
}

// addModel adds a model file and its external data files to the inputs.
// A model that does not load is left for the command to report.
func addModel(plan *outpath.Plan, flag, path string) error {
	plan.Inputs = append(plan.Inputs, outpath.File{Flag: flag, Path: path})
	files, err := onnxio.ExternalFiles(path)
	if err != nil {
		return nil
	}
	for _, f := range files {
		plan.Inputs = append(plan.Inputs, outpath.File{Flag: "the external data of " + path, Path: f})
	}
	return nil
}

// flagPaths returns the paths a string or string-slice flag names.
func flagPaths(c *cli.Context, name string) []string {
	if vs := c.StringSlice(name); len(vs) > 0 {
		return splitList(vs)
	}
	if v := c.String(name); v != "" {
		return []string{v}
	}
	return nil
}

// flagLabel is how messages write a flag: -o for output, --NAME else.
func flagLabel(name string) string {
	if name == "output" {
		return "-o"
	}
	return "--" + name
}

// hasBudgetFlags reports whether the command has budget flags and a
// budget is asked for (insert-qdq and quantize with --max-drop or
// --min-sqnr).
func hasBudgetFlags(c *cli.Context) bool {
	for _, f := range c.Command.Flags {
		if hasName(f, "max-drop") {
			return hasBudget(c)
		}
	}
	return false
}

// budgetConfigPath is where a budget's chosen config is written:
// --save-config, or the output's name with .config.json.
func budgetConfigPath(c *cli.Context) string {
	if p := c.String("save-config"); p != "" {
		return p
	}
	out := c.String("output")
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".config.json"
}
