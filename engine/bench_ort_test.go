//go:build cgo && linux

package engine_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/onnxq/onnxq/dataset"
	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// BenchmarkModels times one inference of each reference model on the Go
// engine and on ONNX Runtime 1.30, both on one thread (engine.SetThreads(1)
// and gemm.SetThreads(1); ORT intra-op threads 1, all graph
// optimizations). It reports wall-clock and CPU milliseconds per
// inference. scripts/bench.sh runs it and prints the table with the
// ratios; by hand:
//
//	go test ./engine -run '^$' -bench BenchmarkModels -benchtime 2s
func BenchmarkModels(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			path := testdata.Path(b, testdata.RealModels[c.model])
			for _, eng := range []evaluate.Engine{evaluate.EngineGo, evaluate.EngineORT} {
				b.Run(string(eng), func(b *testing.B) {
					m, err := evaluate.Open(path, evaluate.Options{Engine: eng, ORTLib: ortLib(b), Threads: 1})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() {
						m.Close()
						engine.SetThreads(0)
						gemm.SetThreads(0)
					})
					in := c.input(b, m)
					if _, err := m.Run(in); err != nil { // warm up: first-run allocations, ORT's lazy init
						b.Fatal(err)
					}
					b.ResetTimer()
					start, cpu0 := time.Now(), cpuTime(b)
					for b.Loop() {
						if _, err := m.Run(in); err != nil {
							b.Fatal(err)
						}
					}
					n := float64(b.N)
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000/n, "ms/inference")
					b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/n, "cpu-ms/inference")
				})
			}
		})
	}
}

// BenchmarkOpTypes breaks one Go-engine inference of each reference model
// down by operator type, on one thread, and logs the table: where the time
// goes, for the kernel owners. Each node's time is the CPU time of the
// calling thread between the Observe callbacks of its inputs and outputs
// (it includes page faults on fresh output buffers and GC assists, not the
// collector's background work on other threads).
//
//	go test ./engine -run '^$' -bench BenchmarkOpTypes -benchtime 10x -v
func BenchmarkOpTypes(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			path := testdata.Path(b, testdata.RealModels[c.model])
			m, err := evaluate.Open(path, evaluate.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				engine.SetThreads(0)
				gemm.SetThreads(0)
			})
			prog, err := engine.Compile(m.Graph)
			if err != nil {
				b.Fatal(err)
			}
			in := c.input(b, m)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			per, nodes := map[string]time.Duration{}, map[string]int{}
			var total time.Duration
			var last time.Duration
			opts := &engine.RunOptions{Observe: func(v *graph.Value, _ *graph.Tensor) {
				now := threadCPU(b)
				if v.Producer != nil {
					per[v.Producer.OpType] += now - last
				}
				last = now
			}}
			prog.Run(in, nil) // warm up
			for _, n := range m.Graph.Graph.Nodes {
				nodes[n.OpType]++
			}
			b.ResetTimer()
			for b.Loop() {
				start := threadCPU(b)
				last = start
				if _, err := prog.Run(in, opts); err != nil {
					b.Fatal(err)
				}
				total += threadCPU(b) - start
			}
			types := make([]string, 0, len(per))
			for k := range per {
				types = append(types, k)
			}
			sort.Slice(types, func(i, j int) bool { return per[types[i]] > per[types[j]] })
			n := float64(b.N)
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: %.3f ms of thread CPU per inference\n", c.name, ms(total)/n)
			for _, k := range types {
				fmt.Fprintf(&sb, "  %-20s %4d nodes %9.3f ms %5.1f%%\n", k, nodes[k], ms(per[k])/n, 100*float64(per[k])/float64(total))
			}
			b.Log(sb.String())
			b.ReportMetric(ms(total)/n, "thread-cpu-ms/inference")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// threadCPU is the CPU time of the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID); the caller locks its goroutine to the thread.
func threadCPU(b *testing.B) time.Duration {
	const clockThreadCPUTime = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		b.Fatal(errno)
	}
	return time.Duration(ts.Nano())
}

// cpuTime is the CPU time (user + system) the process has used. On a
// shared machine it measures the work more faithfully than the wall clock;
// it includes the Go garbage collector's background work, and ONNX Runtime
// with one intra-op thread computes on the calling thread.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCase is one model and the input it runs on.
type benchCase struct {
	name, model string
	input       func(b *testing.B, m *evaluate.Model) map[string]*graph.Tensor
}

var benchCases = []benchCase{
	{"mnist-7", "mnist-7", func(b *testing.B, m *evaluate.Model) map[string]*graph.Tensor {
		src, err := m.OpenMNIST(testdata.Path(b, "mnist/t10k-images-idx3-ubyte.gz"), 1)
		if err != nil {
			b.Fatal(err)
		}
		return sample(b, src)
	}},
	{"blazeface-front", "blazeface-front", image("messi5.jpg", dataset.ImagePresets["blazeface-front"])},
	{"blazeface-back", "blazeface-back", image("messi5.jpg", dataset.ImagePresets["blazeface-back"])},
	// PP-OCRv4 det at 640x640 (the preset's normalization, a fixed size).
	{"ppocr-det-640", "ppocr-det", image("building.jpg", func() dataset.ImagePreprocess {
		p := dataset.ImagePresets["ppocr-det"]
		p.Resize, p.Width, p.Height, p.Multiple = dataset.ResizeExact, 640, 640, 0
		return p
	}())},
}

// image returns one reference photo preprocessed with pre.
func image(name string, pre dataset.ImagePreprocess) func(b *testing.B, m *evaluate.Model) map[string]*graph.Tensor {
	return func(b *testing.B, m *evaluate.Model) map[string]*graph.Tensor {
		src, err := dataset.NewImages([]string{filepath.Join(testdata.Path(b, "images"), name)}, pre)
		if err != nil {
			b.Fatal(err)
		}
		return sample(b, src)
	}
}

func sample(b *testing.B, src dataset.Source) map[string]*graph.Tensor {
	s, err := src.Sample(0)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
