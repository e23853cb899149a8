package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK       = 0
	exitUser     = 1 // the user can fix it: bad file, bad flag, bad argument
	exitInternal = 2 // a bug in onnxq (a recovered panic)
)

// run runs the CLI on args (args[0] is the program name) and returns the
// exit code. Errors are printed on stderr as one line; a panic becomes an
// internal-error line (with the stack only when ONNXQ_DEBUG is set).
func run(args []string, stdout, stderr io.Writer) int {
	return runApp(newApp(stdout, stderr), args, stderr)
}

// runApp is run for a given app (tests add commands to it).
func runApp(app *cli.App, args []string, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "onnxq: internal error: %s; this is a bug in onnxq, please report it with the command line (set ONNXQ_DEBUG=1 for a stack trace)\n", oneLine(fmt.Sprint(p)))
			if os.Getenv("ONNXQ_DEBUG") != "" {
				stderr.Write(debug.Stack())
			}
			code = exitInternal
		}
	}()
	err := app.Run(reorderArgs(app, args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "onnxq: %s\n", oneLine(err.Error()))
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() > 0 {
		return ec.ExitCode()
	}
	return exitUser
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// userErrorf returns an error the user can fix (exit code 1).
func userErrorf(format string, a ...any) error {
	return fmt.Errorf(format, a...)
}

// usageError turns a flag-parsing error into a one-line message that
// points at the command's help.
func usageError(c *cli.Context, err error, isSubcommand bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown flag " + name
	}
	help := "onnxq --help"
	if isSubcommand && c.Command != nil && c.Command.Name != "" {
		help = "onnxq " + c.Command.Name + " --help"
	}
	return userErrorf("%s; see '%s'", msg, help)
}
