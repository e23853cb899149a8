package testdata

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// WrittenDirEnv names the folder Written copies models to. scripts/test.sh
// sets it and, after go test, checks every model found there with the
// official ONNX checker and loads it in ONNX Runtime 1.30
// (scripts/check-written.sh).
const WrittenDirEnv = "ONNXQ_WRITTEN_DIR"

// unsafeChars are the characters of a test name that do not belong in a
// file name.
var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

// Written registers model files a test wrote, for the CI stage that checks
// every model the test suite writes. When $ONNXQ_WRITTEN_DIR is set it
// copies each file (and the external data files it names) into a folder
// of its own below it, named after the test and the file; otherwise it
// does nothing. Call it after the file is complete. A copy that fails
// fails tb: a model the stage should see must not silently go missing.
func Written(tb testing.TB, paths ...string) {
	tb.Helper()
	root := os.Getenv(WrittenDirEnv)
	if root == "" {
		return
	}
	for _, p := range paths {
		if err := copyWritten(root, tb.Name(), p); err != nil {
			tb.Fatalf("testdata.Written: %v", err)
		}
	}
}

func copyWritten(root, test, path string) error {
	base := filepath.Base(path)
	name := strings.Trim(unsafeChars.ReplaceAllString(test+"__"+strings.TrimSuffix(base, filepath.Ext(base)), "_"), "_")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	// One folder per written model, claimed with Mkdir so that test
	// processes running at once never share one.
	dir := filepath.Join(root, name)
	for k := 2; ; k++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			return err
		}
		dir = filepath.Join(root, fmt.Sprintf("%s_%d", name, k))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	files := map[string]bool{}
	externalFiles(m.GetGraph(), files)
	if err := copyFile(path, filepath.Join(dir, base)); err != nil {
		return err
	}
	for loc := range files {
		if filepath.IsAbs(loc) || strings.HasPrefix(filepath.Clean(loc), "..") {
			return fmt.Errorf("%s: external data location %q leaves the model's folder", path, loc)
		}
		dst := filepath.Join(dir, filepath.FromSlash(loc))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(filepath.Dir(path), filepath.FromSlash(loc)), dst); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// externalFiles adds the external data locations of g's tensors (subgraphs
// included) to files. (This package cannot import onnxio: onnxio's own
// tests import it.)
func externalFiles(g *onnxpb.GraphProto, files map[string]bool) {
	if g == nil {
		return
	}
	add := func(t *onnxpb.TensorProto) {
		for _, kv := range t.GetExternalData() {
			if kv.GetKey() == "location" {
				files[kv.GetValue()] = true
			}
		}
	}
	for _, t := range g.GetInitializer() {
		add(t)
	}
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if a.GetT() != nil {
				add(a.GetT())
			}
			for _, t := range a.GetTensors() {
				add(t)
			}
			externalFiles(a.GetG(), files)
			for _, sg := range a.GetGraphs() {
				externalFiles(sg, files)
			}
		}
	}
}
