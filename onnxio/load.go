package onnxio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// Model is a parsed ONNX file: the protobuf message exactly as stored, and
// the folder that its external data locations are relative to.
type Model struct {
	Proto *onnxpb.ModelProto
	Path  string // the file it was loaded from ("" if decoded from memory)
	Dir   string // the folder external data is read from ("" if none)
}

// maxNesting is the deepest nesting of messages Decode reads: the default
// recursion limit of the C++ protobuf parser behind ONNX Runtime and the
// onnx package, so no model they load is refused. It bounds what a deeply
// nested file can cost every pass that walks subgraphs recursively.
const maxNesting = 100

// Load reads and checks the ONNX model at path. Tensors stored as external
// data are not read; ReadTensorData reads them on demand.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	m, err := decode(data, dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return &Model{Proto: m, Path: path, Dir: dir}, nil
}

// Decode parses and checks a model held in memory. A model decoded this way
// cannot refer to external data.
func Decode(data []byte) (*Model, error) {
	m, err := decode(data, "")
	if err != nil {
		return nil, err
	}
	return &Model{Proto: m}, nil
}

func decode(data []byte, dir string) (*onnxpb.ModelProto, error) {
	if len(data) == 0 {
		return nil, errors.New("file is empty")
	}
	m := &onnxpb.ModelProto{}
	if err := (proto.UnmarshalOptions{RecursionLimit: maxNesting}).Unmarshal(data, m); err != nil {
		if strings.Contains(err.Error(), "recursion depth") {
			return nil, fmt.Errorf("messages are nested more than %d deep (about 30 levels of subgraphs), more than ONNX Runtime's protobuf parser reads", maxNesting)
		}
		return nil, fmt.Errorf("not a valid ONNX protobuf file (truncated or not a model): %w", err)
	}
	if m.GetGraph() == nil {
		return nil, errors.New("not an ONNX model: it has no graph")
	}
	if m.IrVersion == nil {
		return nil, errors.New("not an ONNX model: ir_version is missing")
	}
	if err := checkModel(m, dir); err != nil {
		return nil, err
	}
	return m, nil
}

// ReadTensorData returns the bytes of a tensor stored as external data,
// read from the model's folder. For a tensor stored in the file it returns
// raw_data (which may be nil when typed fields are used).
func (m *Model) ReadTensorData(t *onnxpb.TensorProto) ([]byte, error) {
	if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
		return t.GetRawData(), nil
	}
	return readExternal(m.Dir, t)
}

func readExternal(dir string, t *onnxpb.TensorProto) ([]byte, error) {
	if dir == "" {
		return nil, fmt.Errorf("tensor %q: stored as external data, but the model was not loaded from a file", t.GetName())
	}
	b, err := readExternalIn(dir, t)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	return b, nil
}

// readExternalIn checks the external data of t (as Load does) and reads
// it from the file it checked: one file opened inside dir (openExternal),
// whose size is checked before anything is allocated.
func readExternalIn(dir string, t *onnxpb.TensorProto) ([]byte, error) {
	n, err := ElemCount(t.GetDims())
	if err != nil {
		return nil, err
	}
	if err := checkExternal(t, n, "", nil); err != nil {
		return nil, err
	}
	info, err := ParseExternal(t)
	if err != nil {
		return nil, err
	}
	want, err := ByteSize(t.GetDataType(), n)
	if err != nil {
		return nil, err
	}
	f, st, err := openExternal(dir, info.Location)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Offset > st.Size() || want > st.Size()-info.Offset {
		return nil, fmt.Errorf("external data %q holds %d bytes; the tensor needs %d at offset %d", info.Location, st.Size(), want, info.Offset)
	}
	buf := make([]byte, want)
	if _, err := io.ReadFull(io.NewSectionReader(f, info.Offset, want), buf); err != nil {
		return nil, fmt.Errorf("read external data %q: %w", info.Location, err)
	}
	return buf, nil
}

// ExternalFiles returns the paths of the external data files that the
// model at path refers to (each once, in the order the tensors name
// them), as Load finds them: inside the model's folder.
func ExternalFiles(path string) ([]string, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	var files []string
	seen := map[string]bool{}
	err = WalkTensors(m.Proto, func(_ TensorSite, t *onnxpb.TensorProto) error {
		if t.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		info, err := ParseExternal(t)
		if err != nil {
			return err
		}
		if p := filepath.Join(m.Dir, filepath.FromSlash(info.Location)); !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
		return nil
	})
	return files, err
}
