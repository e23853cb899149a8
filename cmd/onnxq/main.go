// Command onnxq inspects and quantizes ONNX models.
//
// The CLI is thin: every command is a call into a package of this module.
// To add a command, write cmd/onnxq/NAME.go with a function nameCommand()
// returning its *cli.Command (flags, usage, Action) and list it in
// commands() below. Conventions the commands share (see output.go):
// results go to stdout (text, or JSON with the --json flag), progress and
// messages to stderr; an Action returns an error for anything the user
// can fix, which prints as one line "onnxq: <message>" and exits 1.
package main

import (
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// commands lists the subcommands, in the order `onnxq --help` shows them.
func commands() []*cli.Command {
	return []*cli.Command{
		inspectCommand(),
		runCommand(),
		evalCommand(),
		quantizeCommand(),
		calibrateCommand(),
		withBudget(insertQDQCommand()),
		finetuneCommand(),
		exportCommand(),
		compareCommand(),
		analyzeCommand(),
	}
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// newApp builds the CLI writing results to stdout and messages to stderr.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "onnxq",
		Usage:                "quantize ONNX models (QuantizeLinear/DequantizeLinear) from one static binary",
		Version:              versionString(),
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                globalFlags(),
		Commands:             commands(),
		HideHelpCommand:      false,
		EnableBashCompletion: false,
		// Errors are printed and mapped to exit codes by run, never by
		// urfave/cli (which would call os.Exit).
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		Action:         rootAction,
	}
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		c.Action = checkedAction(c.Action)
	}
	return app
}

// versionString is the version plus the Go release and, when the binary
// was built from a git checkout, the commit.
func versionString() string {
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	v += " (" + runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += ", commit " + rev
			if dirty {
				v += " modified"
			}
		}
	}
	return v + ")"
}

// rootAction runs when no command is given: it shows the help, or names
// an unknown command.
func rootAction(c *cli.Context) error {
	if c.Args().Present() {
		return userErrorf("unknown command %q; see 'onnxq --help'", c.Args().First())
	}
	return cli.ShowAppHelp(c)
}
