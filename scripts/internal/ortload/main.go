// Command ortload loads ONNX models into ONNX Runtime 1.30 and runs each
// once: the ONNX Runtime half of the CI stage that checks every model the
// test suite writes (scripts/check-written.sh; the other half is the
// official checker, scripts/onnx-check).
//
//	ortload [-ort-lib LIB] MODEL.onnx...
//
// Each model is loaded at the 'extended' optimization level (where ONNX
// Runtime fuses Q/DQ groups into integer kernels, so a model it cannot
// fuse correctly fails here) and run once on inputs of zeros shaped as its
// inputs declare; a dynamic dimension is 1 on the first axis and 32 on the
// others (enough for the downsampling of the reference convolution
// networks). It prints "OK path (N ops after optimization)" or "FAIL path:
// reason" per model and exits 1 if any failed. The library is -ort-lib,
// else $ONNXRUNTIME_LIB.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
)

func main() {
	lib := flag.String("ort-lib", "", "ONNX Runtime library (default $ONNXRUNTIME_LIB)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ortload [-ort-lib LIB] MODEL.onnx...")
		os.Exit(2)
	}
	if err := ort.Init(*lib); err != nil {
		fmt.Fprintln(os.Stderr, "ortload:", err)
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "ortload")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ortload:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmp)
	failed := 0
	for i, path := range flag.Args() {
		ops, err := check(path, filepath.Join(tmp, fmt.Sprintf("opt%d.onnx", i)))
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", path, err)
			continue
		}
		fmt.Printf("OK %s (%d ops after optimization)\n", path, ops)
	}
	fmt.Printf("ONNX Runtime %s: %d of %d models loaded and ran\n", ort.Version(), flag.NArg()-failed, flag.NArg())
	if failed > 0 {
		os.Exit(1)
	}
}

// check loads path at the 'extended' level, writes the optimized model to
// opt, runs the model once and returns the optimized model's node count.
func check(path, opt string) (int, error) {
	m, err := graph.FromFile(path)
	if err != nil {
		return 0, err
	}
	inputs, err := zeroInputs(m)
	if err != nil {
		return 0, err
	}
	s, err := ort.NewSession(path, ort.Options{Threads: 1, OptLevel: ort.OptExtended, OptimizedModelPath: opt})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if _, err := s.Run(inputs); err != nil {
		return 0, err
	}
	counts, err := ort.OpTypes(opt)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n, nil
}

// zeroInputs returns a tensor of zeros for every input the model needs.
func zeroInputs(m *graph.Model) (map[string]*graph.Tensor, error) {
	out := map[string]*graph.Tensor{}
	for _, v := range m.Graph.Inputs {
		if v.IsConst() {
			continue
		}
		dims, ok := v.Shape()
		if !ok {
			return nil, fmt.Errorf("input %q has no declared shape", v.Name)
		}
		shape := make([]int64, len(dims))
		for i, d := range dims {
			switch {
			case d >= 0:
				shape[i] = d
			case i == 0:
				shape[i] = 1
			default:
				shape[i] = 32
			}
		}
		dt := v.ElemType()
		if dt == graph.Undefined {
			return nil, fmt.Errorf("input %q has no element type", v.Name)
		}
		out[v.Name] = graph.Zeros(dt, shape)
	}
	return out, nil
}
