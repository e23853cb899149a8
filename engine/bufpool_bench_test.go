//go:build cgo && linux

package engine_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/ptq"
)

// BenchmarkModelAllocs measures the heap allocation and thread CPU time
// of one Go-engine inference of each reference model (one thread), and
// logs both broken down by operator type: what is allocated and spent
// between the Observe callbacks of a node's inputs and outputs (the
// kernel's output buffers and scratch space). The qdq variant is the
// model quantized by ptq (default configuration, the benchmark input as
// the one calibration sample): what evaluating a QDQ model costs.
//
//	go test ./engine -run '^$' -bench BenchmarkModelAllocs -benchtime 10x -v
func BenchmarkModelAllocs(b *testing.B) {
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
			in := c.input(b, m)
			b.Run("float", func(b *testing.B) { benchAllocs(b, c.name, m.Graph, in) })
			b.Run("qdq", func(b *testing.B) {
				q, err := graph.FromFile(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ptq.Quantize(q, oneSample{in}, ptq.Defaults()); err != nil {
					b.Fatal(err)
				}
				benchAllocs(b, c.name+" qdq", q, in)
			})
		})
	}
}

// oneSample is a calibration source of one sample.
type oneSample struct{ in map[string]*graph.Tensor }

func (s oneSample) Len() int                                     { return 1 }
func (s oneSample) Sample(int) (map[string]*graph.Tensor, error) { return s.in, nil }

// benchAllocs runs m on in and reports bytes allocated, allocations and
// thread CPU time per inference, and logs them per operator type.
func benchAllocs(b *testing.B, name string, m *graph.Model, in map[string]*graph.Tensor) {
	prog, err := engine.Compile(m)
	if err != nil {
		b.Fatal(err)
	}
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	bytes, cpu, nodes := map[string]uint64{}, map[string]time.Duration{}, map[string]int{}
	var lastBytes uint64
	var lastCPU time.Duration
	opts := &engine.RunOptions{Observe: func(v *graph.Value, _ *graph.Tensor) {
		nowBytes, nowCPU := allocated(), threadCPU(b)
		if v.Producer != nil {
			bytes[v.Producer.OpType] += nowBytes - lastBytes
			cpu[v.Producer.OpType] += nowCPU - lastCPU
		}
		lastBytes, lastCPU = allocated(), threadCPU(b) // the callback's own cost is nobody's
	}}
	if _, err := prog.Run(in, nil); err != nil { // warm up
		b.Fatal(err)
	}
	for _, n := range m.Graph.Nodes {
		nodes[n.OpType]++
	}
	var totalBytes uint64
	var totalCPU time.Duration
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		lastBytes, lastCPU = allocated(), threadCPU(b)
		startBytes, startCPU := lastBytes, lastCPU
		if _, err := prog.Run(in, opts); err != nil {
			b.Fatal(err)
		}
		totalBytes += allocated() - startBytes
		totalCPU += threadCPU(b) - startCPU
	}
	runtime.ReadMemStats(&ms1)
	n := float64(b.N)
	types := make([]string, 0, len(bytes))
	for k := range bytes {
		types = append(types, k)
	}
	sort.Slice(types, func(i, j int) bool { return bytes[types[i]] > bytes[types[j]] })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %.2f MB allocated, %.3f ms of thread CPU per inference\n", name, float64(totalBytes)/n/1e6, ms(totalCPU)/n)
	for _, k := range types {
		fmt.Fprintf(&sb, "  %-20s %4d nodes %9.3f MB %9.3f ms\n", k, nodes[k], float64(bytes[k])/n/1e6, ms(cpu[k])/n)
	}
	b.Log(sb.String())
	b.ReportMetric(float64(totalBytes)/n/1e6, "MB/inference")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/inference")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)/n, "gc/inference")
	b.ReportMetric(ms(totalCPU)/n, "thread-cpu-ms/inference")
}
