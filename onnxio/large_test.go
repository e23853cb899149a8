package onnxio_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// largePeriod is the period of the values of the shared buffer behind the
// large test's tensors: element i holds i mod largePeriod, exact in float32
// (below 2^24), so a tensor read from the wrong offset shows.
const largePeriod = 1000003

func largePattern(i int) float32 { return float32(i % largePeriod) }

// peakRSS returns the process's peak resident memory (VmHWM) in bytes, or 0
// where /proc does not say.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")) {
				kb = kb*10 + int64(c-'0')
			}
			return kb << 10
		}
	}
	return 0
}

// TestSaveOver2GiB saves a model whose three float32 initializers total
// 2.34 GiB, more than one protobuf message can hold, with the default
// options: Save must move them to an external data file by itself, refuse
// to write the model in one file when told never to use external data, and
// leave its input as it was; Load, ReadTensorData and the IR must give
// back every value. The three tensors are windows, one element apart, of
// one 800 MiB buffer, so the test holds 800 MiB of source data.
func TestSaveOver2GiB(t *testing.T) {
	start := time.Now()
	const n = 200 << 20 // elements per tensor: 800 MiB
	const count = 3
	buf := make([]byte, 4*(n+count))
	for i, r := 0, 0; i < n+count; i++ { // r = i mod largePeriod, without dividing
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(r)))
		if r++; r == largePeriod {
			r = 0
		}
	}
	var inits []*onnxpb.TensorProto
	for k := range count {
		tp := f32Tensor("w"+string(rune('0'+k)), []int64{n / 1024, 1024})
		tp.RawData = buf[4*k : 4*(k+n)]
		inits = append(inits, tp)
	}
	m := modelWith(inits...)
	dir := t.TempDir()
	p := filepath.Join(dir, "large.onnx")

	// Never external: too large for one message.
	err := onnxio.Save(m, p, onnxio.SaveOptions{ExternalThreshold: -1})
	assertErr(t, err, "over the 2 GiB limit of a protobuf message")
	if names := listDir(t, dir); len(names) != 0 {
		t.Fatalf("the refused Save left %v", names)
	}

	built := time.Since(start)
	if err := onnxio.Save(m, p, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	saved := time.Since(start)
	for k, tp := range inits { // the input still holds its own bytes
		if tp.GetDataLocation() != onnxpb.TensorProto_DEFAULT || len(tp.RawData) != 4*n || &tp.RawData[0] != &buf[4*k] {
			t.Fatalf("Save changed its input's tensor %s", tp.GetName())
		}
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 64<<10 {
		t.Errorf("the model file is %d bytes: the tensors did not move out", st.Size())
	}
	lm, err := onnxio.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	ext := externalEntries(t, lm.Proto)
	if len(ext) != count {
		t.Fatalf("%d tensors stored as external data, want %d", len(ext), count)
	}
	for k, tp := range lm.Proto.Graph.Initializer {
		info := ext[tp.GetName()]
		if info.Location != "large.onnx.data" || info.Offset%4096 != 0 || info.Length != 4*n {
			t.Errorf("tensor %s: %+v", tp.GetName(), info)
		}
		raw, err := lm.ReadTensorData(tp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, buf[4*k:4*(k+n)]) {
			t.Fatalf("tensor %s: ReadTensorData differs from what was saved", tp.GetName())
		}
	}
	read := time.Since(start)

	// Through the IR, checked against the pattern (the source buffer is no
	// longer needed: let it go before the IR allocates 2.34 GiB of its own).
	buf, m, inits = nil, nil, nil
	runtime.GC()
	gm, err := graph.FromONNX(lm)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range gm.Graph.Initializers {
		f, err := v.Const.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != n {
			t.Fatalf("initializer %s has %d values", v.Name, len(f))
		}
		r := k // (j+k) mod largePeriod
		for j, x := range f {
			if x != float32(r) {
				t.Fatalf("initializer %s[%d] = %v, want %v", v.Name, j, x, largePattern(j+k))
			}
			if r++; r == largePeriod {
				r = 0
			}
		}
	}
	t.Logf("%d tensors, %.2f GiB: built in %v, saved in %v, read back in %v, decoded and checked in %v; peak RSS %.2f GiB",
		count, float64(count*4*n)/(1<<30), built.Round(time.Millisecond), (saved - built).Round(time.Millisecond),
		(read - saved).Round(time.Millisecond), (time.Since(start) - read).Round(time.Millisecond), float64(peakRSS())/(1<<30))
}
