package graph

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/internal/testdata"
	"github.com/onnxq/onnxq/onnxio"
)

// TestIRRoundTrip converts every node-test model and every reference model
// to IR and back, and checks that the bytes do not change.
func TestIRRoundTrip(t *testing.T) {
	var paths []string
	for _, d := range testdata.NodeTests(t) {
		paths = append(paths, filepath.Join(d, "model.onnx"))
	}
	for _, rel := range testdata.RealModels {
		paths = append(paths, testdata.Path(t, rel))
	}
	for _, p := range paths {
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		om, err := onnxio.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := FromONNX(om)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		got, err := proto.Marshal(m.ToProto())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, orig) {
			t.Errorf("%s: IR round trip changed the bytes (%d -> %d)", p, len(orig), len(got))
		}
	}
	t.Logf("%d models round-trip through the IR unchanged", len(paths))
}
