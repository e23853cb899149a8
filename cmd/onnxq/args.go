package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs lets flags follow positional arguments
// (`onnxq inspect model.onnx --json`), which urfave/cli v2 does not parse:
// its flag parser stops at the first positional argument. It rewrites
//
//	prog [global flags] COMMAND [mixed flags and arguments]
//
// into prog [global flags] COMMAND [command flags] [arguments]. A global
// flag written after the command moves before it. Everything after "--"
// stays an argument. Unknown flags are kept among the flags, so the parser
// still reports them. Commands with subcommands are left as they are.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	i := 1
	for i < len(args) && isFlag(args[i]) {
		n := flagArity(app.Flags, args[i], args, i)
		out = append(out, args[i:i+n]...)
		i += n
	}
	if i >= len(args) || args[i] == "--" {
		return append(out, args[i:]...)
	}
	cmd := findCommand(app, args[i])
	if cmd == nil || len(cmd.Subcommands) > 0 {
		return append(out, args[i:]...)
	}
	name := args[i]
	i++
	var globals, flags, positional []string
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
			continue
		case !isFlag(a):
			positional = append(positional, a)
			i++
			continue
		}
		if lookupFlag(cmd.Flags, a) == nil && lookupFlag(app.Flags, a) != nil {
			n := flagArity(app.Flags, a, args, i)
			globals = append(globals, args[i:i+n]...)
			i += n
			continue
		}
		n := flagArity(cmd.Flags, a, args, i)
		flags = append(flags, args[i:i+n]...)
		i += n
	}
	out = append(out, globals...)
	out = append(out, name)
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// isFlag reports whether a looks like a flag ("-x", "--name", "--name=v");
// "-" alone is an argument (stdin by convention).
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

// flagName strips dashes and any "=value" from a flag argument.
func flagName(a string) string {
	name := strings.TrimLeft(a, "-")
	if k, _, ok := strings.Cut(name, "="); ok {
		return k
	}
	return name
}

// lookupFlag finds the flag a names among flags (help flags included).
func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name := flagName(a)
	for _, f := range flags {
		if hasName(f, name) {
			return f
		}
	}
	if hasName(cli.HelpFlag, name) {
		return cli.HelpFlag
	}
	return nil
}

func hasName(f cli.Flag, name string) bool {
	for _, n := range f.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// flagArity is how many arguments the flag at args[i] spans: 1 for a
// boolean flag, for "--name=value" and for an unknown flag; 2 for a flag
// that takes a value as the next argument (when there is one).
func flagArity(flags []cli.Flag, a string, args []string, i int) int {
	if strings.Contains(a, "=") {
		return 1
	}
	f := lookupFlag(flags, a)
	if f == nil {
		return 1
	}
	if _, isBool := f.(*cli.BoolFlag); isBool {
		return 1
	}
	if i+1 < len(args) {
		return 2
	}
	return 1
}

// findCommand returns the command called name (or one of its aliases).
func findCommand(app *cli.App, name string) *cli.Command {
	for _, c := range app.Commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// oneArg returns the command's single positional argument, or a usage
// error naming what is missing or extra.
func oneArg(c *cli.Context, what string) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", userErrorf("%s: missing %s argument; see 'onnxq %s --help'", c.Command.Name, what, c.Command.Name)
	}
	return "", userErrorf("%s: takes one %s argument, got %d (%q ...); see 'onnxq %s --help'", c.Command.Name, what, c.NArg(), c.Args().Get(1), c.Command.Name)
}
