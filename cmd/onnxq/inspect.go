package main

import (
	"github.com/urfave/cli/v2"

	"github.com/onnxq/onnxq/inspect"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "summarise a model: versions, producer, inputs/outputs, operators, parameters, size",
		ArgsUsage: "MODEL",
		Description: "Prints the IR version, opset imports, producer, the inputs and outputs with their\n" +
			"element types and shapes (symbolic dims by name, ? when unknown), the node count and\n" +
			"op-type histogram counted through If/Loop/Scan bodies, the number of subgraphs, the\n" +
			"parameters held in initializers and in Constant nodes, and the file and external-data\n" +
			"sizes. --json writes the same as one JSON object (keys in docs/cli.md).",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			path, err := oneArg(c, "MODEL")
			if err != nil {
				return err
			}
			r, err := inspect.File(path)
			if err != nil {
				return err
			}
			return writeResult(c, r, func(c *cli.Context) error { return r.WriteText(c.App.Writer) })
		},
	}
}
