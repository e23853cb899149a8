package onnxio_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// allocBound is the most a failed load of a file of size bytes may
// allocate. Load holds the file (size + 512 bytes of read slack) and the
// decoded message, which copies every bytes field once and holds each
// message in a Go struct; the IR adds a typed copy of every initializer
// decoded before the bad one (at most 2x its bytes: 4-bit values unpack to
// one byte each). So 4 bytes per file byte cover the file, the message and
// the tensors with a margin; 64 KiB covers what does not grow with the file
// (paths, error messages, the maps of the graph converter).
func allocBound(size int) uint64 { return 4*uint64(size) + 64<<10 }

// allocated returns the bytes fn allocates per call (the mean of runs calls)
// and the slowest call.
func allocated(runs int, fn func()) (uint64, time.Duration) {
	fn() // warm up: one-time initialisation is not the loader's cost
	var before, after runtime.MemStats
	var slowest time.Duration
	runtime.ReadMemStats(&before)
	for range runs {
		start := time.Now()
		fn()
		slowest = max(slowest, time.Since(start))
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs), slowest
}

// TestHostileFilesAllocateLittle loads small files that claim enormous
// tensors (up to 4 TiB) and checks that loading fails fast and allocates no
// more than the file can justify (allocBound): the claim is checked before
// anything is allocated for it. Both Load (with its checks) and
// graph.FromONNX on a model that skipped them are measured.
func TestHostileFilesAllocateLittle(t *testing.T) {
	mnist, err := onnxio.Load(testdata.Path(t, testdata.RealModels["mnist-7"]))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		base  *onnxpb.ModelProto
		huge  *onnxpb.TensorProto
		setup func(dir string) error
	}{
		{"4 TiB of FLOAT without data, in mnist-7", mnist.Proto, badTensor(onnxpb.TensorProto_FLOAT, 1<<40), nil},
		{"4 TiB of FLOAT without data", modelWith(), badTensor(onnxpb.TensorProto_FLOAT, 1<<40), nil},
		{"8 GiB of INT64 with one value", modelWith(), with(badTensor(onnxpb.TensorProto_INT64, 1<<30), func(t *onnxpb.TensorProto) { t.Int64Data = []int64{1} }), nil},
		{"16 GiB of DOUBLE with one value", modelWith(), with(badTensor(onnxpb.TensorProto_DOUBLE, 1<<31), func(t *onnxpb.TensorProto) { t.DoubleData = []float64{1} }), nil},
		{"1 GiB of INT8 with 2 raw bytes", modelWith(), with(badTensor(onnxpb.TensorProto_INT8, 1<<20, 1<<10), func(t *onnxpb.TensorProto) { t.RawData = []byte{1, 2} }), nil},
		{"4 GiB of UINT4 in 1 int32_data entry", modelWith(), with(badTensor(onnxpb.TensorProto_UINT4, 1<<33), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{1} }), nil},
		{"1 GiB of FLOAT in a 16-byte data file", modelWith(),
			with(extTensor("location", "w.data"), func(t *onnxpb.TensorProto) { t.Name = proto.String("bad"); t.Dims = []int64{1 << 28} }),
			func(dir string) error { return os.WriteFile(filepath.Join(dir, "w.data"), make([]byte, 16), 0o644) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.setup != nil {
				if err := c.setup(dir); err != nil {
					t.Fatal(err)
				}
			}
			m := proto.Clone(c.base).(*onnxpb.ModelProto)
			m.Graph.Initializer = append(m.Graph.Initializer, c.huge)
			p := writeModel(t, dir, "huge.onnx", m)
			size := len(mustMarshal(t, m))
			bound := allocBound(size)

			var loadErr, irErr error
			loadBytes, loadTime := allocated(10, func() { _, loadErr = onnxio.Load(p) })
			assertErr(t, loadErr, `initializer "bad"`)
			unchecked := &onnxio.Model{Proto: m, Path: p, Dir: dir}
			irBytes, irTime := allocated(10, func() { _, irErr = graph.FromONNX(unchecked) })
			assertErr(t, irErr, `initializer "bad"`)
			t.Logf("file %d bytes, bound %d: Load allocates %d bytes in %v, graph.FromONNX %d bytes in %v",
				size, bound, loadBytes, loadTime, irBytes, irTime)
			if loadBytes > bound || irBytes > bound {
				t.Errorf("allocated more than the file justifies: Load %d, FromONNX %d bytes, bound %d", loadBytes, irBytes, bound)
			}
			// Allocating the claim, or even touching it, would take seconds.
			if slowest := max(loadTime, irTime); slowest > time.Second {
				t.Errorf("refusing the file took %v", slowest)
			}
		})
	}
}
