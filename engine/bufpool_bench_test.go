//go:build cgo && linux

package engine_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"testing"

	"github.com/onnxq/onnxq/engine"
	"github.com/onnxq/onnxq/engine/gemm"
	"github.com/onnxq/onnxq/evaluate"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// BenchmarkModelAllocs measures the heap allocation of one Go-engine
// inference of each reference model (one thread) and logs it broken down
// by operator type: the bytes allocated between the Observe callbacks of
// a node's inputs and outputs, which include the kernel's output buffers
// and scratch space.
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
			prog, err := engine.Compile(m.Graph)
			if err != nil {
				b.Fatal(err)
			}
			in := c.input(b, m)
			sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
			allocated := func() uint64 {
				metrics.Read(sample)
				return sample[0].Value.Uint64()
			}
			per, nodes := map[string]uint64{}, map[string]int{}
			var last uint64
			opts := &engine.RunOptions{Observe: func(v *graph.Value, _ *graph.Tensor) {
				now := allocated()
				if v.Producer != nil {
					per[v.Producer.OpType] += now - last
				}
				last = now
			}}
			if _, err := prog.Run(in, nil); err != nil { // warm up
				b.Fatal(err)
			}
			for _, n := range m.Graph.Graph.Nodes {
				nodes[n.OpType]++
			}
			var total uint64
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for b.Loop() {
				start := allocated()
				last = start
				if _, err := prog.Run(in, opts); err != nil {
					b.Fatal(err)
				}
				total += allocated() - start
			}
			runtime.ReadMemStats(&ms1)
			n := float64(b.N)
			types := make([]string, 0, len(per))
			for k := range per {
				types = append(types, k)
			}
			sort.Slice(types, func(i, j int) bool { return per[types[i]] > per[types[j]] })
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: %.2f MB allocated per inference\n", c.name, float64(total)/n/1e6)
			for _, k := range types {
				fmt.Fprintf(&sb, "  %-20s %4d nodes %9.3f MB %5.1f%%\n", k, nodes[k], float64(per[k])/n/1e6, 100*float64(per[k])/float64(total))
			}
			b.Log(sb.String())
			b.ReportMetric(float64(total)/n/1e6, "MB/inference")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/inference")
			b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)/n, "gc/inference")
		})
	}
}
