package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/engine/ort"
	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
)

// Benchmarks of the heavy operators, each at 1 and 2 threads (SetThreads
// sets the engine's ParallelFor and the GEMM's goroutine split). Run with
//
//	go test ./engine/ -run '^$' -bench 'Conv|MatMul|Pool' -benchtime 20x
//
// For reference (DESIGN.md): ONNX Runtime 1.30 computes the 64->64 3x3
// 56x56 convolution in 2.2 ms on one thread of this machine.

// benchThreads runs fn as sub-benchmarks at 1 and 2 threads.
func benchThreads(b *testing.B, fn func(b *testing.B)) {
	for _, t := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			old := SetThreads(t)
			defer SetThreads(old)
			fn(b)
		})
	}
}

// benchOp times the forward pass (and, with backward, the gradient) of one
// node.
func benchOp(b *testing.B, op string, opset int64, attrs map[string]any, in []*graph.Tensor, backward bool) {
	o := Lookup("", op, opset)
	ctx := &Context{Node: newTestNode(op, attrs, 1), Opset: opset}
	out, err := o.Forward(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	dout := []*graph.Tensor{randTensor(rand.New(rand.NewPCG(1, 1)), out[0].Shape...)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := o.Forward(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		if backward {
			if _, err := o.Backward(ctx, in, out, dout); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

func convBenchInputs(x, w []int64, bias bool) []*graph.Tensor {
	rng := rand.New(rand.NewPCG(5, 6))
	in := []*graph.Tensor{randTensor(rng, x...), randTensor(rng, w...)}
	if bias {
		in = append(in, randTensor(rng, w[0]))
	}
	return in
}

// BenchmarkConv64x3x3 is the 64->64 3x3 pad-1 convolution on 56x56 (the
// ResNet-18 stage-1 layer, 231 MFLOP).
func BenchmarkConv64x3x3(b *testing.B) {
	in := convBenchInputs([]int64{1, 64, 56, 56}, []int64{64, 64, 3, 3}, true)
	attrs := map[string]any{"pads": []int64{1, 1, 1, 1}}
	b.Run("forward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "Conv", 13, attrs, in, false) })
	})
	b.Run("forward+backward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "Conv", 13, attrs, in, true) })
	})
}

// BenchmarkConvDepthwise is a MobileNet-style 3x3 depthwise convolution,
// 128 channels on 56x56.
func BenchmarkConvDepthwise(b *testing.B) {
	in := convBenchInputs([]int64{1, 128, 56, 56}, []int64{128, 1, 3, 3}, true)
	attrs := map[string]any{"pads": []int64{1, 1, 1, 1}, "group": 128}
	b.Run("forward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "Conv", 13, attrs, in, false) })
	})
	b.Run("forward+backward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "Conv", 13, attrs, in, true) })
	})
}

// BenchmarkConvPointwise is a 1x1 convolution 128->128 on 28x28.
func BenchmarkConvPointwise(b *testing.B) {
	in := convBenchInputs([]int64{1, 128, 28, 28}, []int64{128, 128, 1, 1}, true)
	benchThreads(b, func(b *testing.B) { benchOp(b, "Conv", 13, nil, in, false) })
}

// BenchmarkMatMul512 is a 512x512 by 512x512 product (268 MFLOP).
func BenchmarkMatMul512(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	in := []*graph.Tensor{randTensor(rng, 512, 512), randTensor(rng, 512, 512)}
	b.Run("forward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "MatMul", 13, nil, in, false) })
	})
	b.Run("forward+backward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "MatMul", 13, nil, in, true) })
	})
}

// BenchmarkMaxPool is the ResNet stem pooling: 3x3 stride 2 pad 1 on
// 64x112x112.
func BenchmarkMaxPool(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	in := []*graph.Tensor{randTensor(rng, 1, 64, 112, 112)}
	attrs := map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}
	b.Run("forward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "MaxPool", 12, attrs, in, false) })
	})
	b.Run("forward+backward", func(b *testing.B) {
		benchThreads(b, func(b *testing.B) { benchOp(b, "MaxPool", 12, attrs, in, true) })
	})
}

// vsORTCases are single-node models timed against ONNX Runtime.
var vsORTCases = []struct {
	name  string
	build func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor)
}{
	{"conv64x3x3_56", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 64, 56, 56)
		w := b.Const("w", randTensor(rng, 64, 64, 3, 3))
		bias := b.Const("b", randTensor(rng, 64))
		return b.Op("Conv", []*graph.Value{x, w, bias}, map[string]any{"pads": []int64{1, 1, 1, 1}}), randTensor(rng, 1, 64, 56, 56)
	}},
	{"conv3x7x7s2_224", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 3, 224, 224)
		w := b.Const("w", randTensor(rng, 64, 3, 7, 7))
		return b.Op("Conv", []*graph.Value{x, w}, map[string]any{"pads": []int64{3, 3, 3, 3}, "strides": []int64{2, 2}}), randTensor(rng, 1, 3, 224, 224)
	}},
	{"depthwise128_56", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 128, 56, 56)
		w := b.Const("w", randTensor(rng, 128, 1, 3, 3))
		return b.Op("Conv", []*graph.Value{x, w}, map[string]any{"pads": []int64{1, 1, 1, 1}, "group": 128}), randTensor(rng, 1, 128, 56, 56)
	}},
	{"depthwise96s2_112", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 96, 112, 112)
		w := b.Const("w", randTensor(rng, 96, 1, 3, 3))
		return b.Op("Conv", []*graph.Value{x, w}, map[string]any{"pads": []int64{1, 1, 1, 1}, "group": 96, "strides": []int64{2, 2}}), randTensor(rng, 1, 96, 112, 112)
	}},
	{"pointwise128_28", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 128, 28, 28)
		w := b.Const("w", randTensor(rng, 128, 128, 1, 1))
		return b.Op("Conv", []*graph.Value{x, w}, nil), randTensor(rng, 1, 128, 28, 28)
	}},
	{"convtranspose64_28", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 64, 28, 28)
		w := b.Const("w", randTensor(rng, 64, 32, 2, 2))
		return b.Op("ConvTranspose", []*graph.Value{x, w}, map[string]any{"strides": []int64{2, 2}}), randTensor(rng, 1, 64, 28, 28)
	}},
	{"matmul512", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 512, 512)
		w := b.Const("w", randTensor(rng, 512, 512))
		return b.Op("MatMul", []*graph.Value{x, w}, nil), randTensor(rng, 512, 512)
	}},
	{"maxpool3x3s2_112", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 64, 112, 112)
		return b.Op("MaxPool", []*graph.Value{x}, map[string]any{"kernel_shape": []int64{3, 3}, "strides": []int64{2, 2}, "pads": []int64{1, 1, 1, 1}}), randTensor(rng, 1, 64, 112, 112)
	}},
	{"resize_linear2x_64x56", func(b *graph.Builder, rng *rand.Rand) (*graph.Value, *graph.Tensor) {
		x := b.Input("x", graph.Float, 1, 64, 56, 56)
		scales := b.Const("s", graph.MustTensor(graph.Float, []int64{4}, []float32{1, 1, 2, 2}))
		return b.Op("Resize", []*graph.Value{x, nil, scales}, map[string]any{"mode": "linear"}), randTensor(rng, 1, 64, 56, 56)
	}},
}

// BenchmarkVsORT times single-node models on the Go engine and on ONNX
// Runtime 1.30 (intra-op threads as set, all graph optimizations), the two
// interleaved in every iteration so that machine load affects both alike.
// It reports go-ms, ort-ms and their ratio.
func BenchmarkVsORT(b *testing.B) {
	lib := os.Getenv(ort.LibraryEnv)
	if lib == "" {
		lib = testdata.Path(b, "ort/libonnxruntime.so.1")
	}
	if err := ort.Init(lib); err != nil {
		b.Fatal(err)
	}
	for _, c := range vsORTCases {
		b.Run(c.name, func(b *testing.B) {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
					old := SetThreads(threads)
					defer SetThreads(old)
					benchVsORT(b, c.build, threads)
				})
			}
		})
	}
}

func benchVsORT(b *testing.B, build func(*graph.Builder, *rand.Rand) (*graph.Value, *graph.Tensor), threads int) {
	bld := graph.NewBuilder(13)
	y, x := build(bld, rand.New(rand.NewPCG(11, 12)))
	bld.Output(y)
	m := bld.Model()
	prog, err := Compile(m)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*graph.Tensor{"x": x}
	want, err := prog.Run(in, nil)
	if err != nil {
		b.Fatal(err)
	}
	graph.SetType(y, graph.Float, want[y.Name].Shape...)
	data, err := proto.Marshal(m.ToProto())
	if err != nil {
		b.Fatal(err)
	}
	sess, err := ort.NewSessionFromBytes("bench", data, ort.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	got, err := sess.Run(in)
	if err != nil {
		b.Fatal(err)
	}
	var diff float64
	g, w := got[y.Name].Data.([]float32), want[y.Name].Data.([]float32)
	for i := range g {
		diff = max(diff, math.Abs(float64(g[i]-w[i])))
	}
	// With one thread both run on the calling OS thread, so its CPU time
	// is a measure that other processes on the machine do not inflate.
	if threads == 1 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	var goT, ortT, goCPU, ortCPU time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, t0 := threadCPU(), time.Now()
		if _, err := prog.Run(in, nil); err != nil {
			b.Fatal(err)
		}
		c1, t1 := threadCPU(), time.Now()
		if _, err := sess.Run(in); err != nil {
			b.Fatal(err)
		}
		c2 := threadCPU()
		goT, ortT = goT+t1.Sub(t0), ortT+time.Since(t1)
		goCPU, ortCPU = goCPU+c1-c0, ortCPU+c2-c1
	}
	perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(perOp(goT), "go-ms")
	b.ReportMetric(perOp(ortT), "ort-ms")
	b.ReportMetric(float64(goT)/float64(ortT), "go/ort")
	if threads == 1 {
		b.ReportMetric(perOp(goCPU), "go-cpu-ms")
		b.ReportMetric(perOp(ortCPU), "ort-cpu-ms")
		b.ReportMetric(float64(goCPU)/float64(ortCPU), "go/ort-cpu")
	}
	b.ReportMetric(diff, "maxdiff")
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}
