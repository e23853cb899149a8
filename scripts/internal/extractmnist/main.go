// Command extractmnist writes the ONNX model zoo "mnist-7" model that
// github.com/owulveryck/onnx-go v0.5.0 embeds as a Go string literal in
// internal/examples/mnist/mnist_binary.go.
//
// It parses the Go source with go/parser (the file is never compiled or
// imported), takes the []byte("...") string literal returned by GetMnist,
// unquotes it with strconv.Unquote and writes the raw bytes.
//
// Usage (scripts/fetch-testdata.sh builds it from a throw-away module dir):
//
//	go build -o extractmnist /path/to/scripts/internal/extractmnist/main.go
//	extractmnist .../internal/examples/mnist/mnist_binary.go mnist-7.onnx
//
// Standard library only, so it builds on its own, outside the onnxq module
// graph (it does not depend on the state of the repository's go.mod).
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"

	"github.com/onnxq/onnxq/onnxio"
)

// funcName is the function of mnist_binary.go whose body returns the model.
const funcName = "GetMnist"

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: extractmnist mnist_binary.go out.onnx")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "extractmnist:", err)
		os.Exit(1)
	}
}

func run(src, out string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, src, nil, parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	lit, err := findLiteral(f)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	data, err := strconv.Unquote(lit.Value)
	if err != nil {
		return fmt.Errorf("%s: unquote literal at %s: %w", src, fset.Position(lit.Pos()), err)
	}
	if len(data) == 0 {
		return fmt.Errorf("%s: empty model literal", src)
	}
	// Atomic, so a crash never leaves a truncated model at the final path.
	return onnxio.WriteFileAtomic(out, []byte(data))
}

// findLiteral returns the string literal converted to []byte in the body of
// funcName: `return []byte("...")`.
func findLiteral(f *ast.File) (*ast.BasicLit, error) {
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != funcName || fn.Body == nil {
			continue
		}
		var found *ast.BasicLit
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || found != nil || len(call.Args) != 1 {
				return found == nil
			}
			arr, ok := call.Fun.(*ast.ArrayType)
			if !ok || arr.Len != nil {
				return true
			}
			if id, ok := arr.Elt.(*ast.Ident); !ok || id.Name != "byte" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				found = lit
				return false
			}
			return true
		})
		if found == nil {
			return nil, fmt.Errorf("func %s has no []byte(\"...\") string literal", funcName)
		}
		return found, nil
	}
	return nil, fmt.Errorf("func %s not found", funcName)
}
