package onnxio

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/onnxq/onnxq/internal/outpath"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// maxProtoBytes is the size above which a model no longer fits in one
// protobuf message (2 GiB) with a margin for the message framing.
const maxProtoBytes = 2<<30 - 64<<20

// SaveOptions says where Save puts tensor data.
type SaveOptions struct {
	// ExternalThreshold moves every tensor of at least this many bytes to
	// the external data file. Zero means automatic: tensors stay in the
	// model file unless the model would exceed the 2 GiB protobuf limit,
	// in which case tensors of 1 KiB or more move out. Negative means never.
	ExternalThreshold int64
	// DataFile names the external data file, relative to the model's
	// folder. Default: the model's file name plus ".data".
	DataFile string
	// SourceDir is the folder that external data locations already in the
	// model are relative to (Model.Dir of the loaded model).
	SourceDir string
}

// Save writes m to path. The file appears complete or not at all: data goes
// to a temporary file in the same folder that is renamed over path. m is
// not modified.
func Save(m *onnxpb.ModelProto, path string, opts SaveOptions) error {
	if err := save(m, path, opts); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func save(m *onnxpb.ModelProto, path string, opts SaveOptions) error {
	threshold := opts.ExternalThreshold
	hasExternal := false
	_ = WalkTensors(m, func(_ TensorSite, t *onnxpb.TensorProto) error {
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			hasExternal = true
		}
		return nil
	})
	size := int64(proto.Size(m))
	if threshold == 0 {
		threshold = -1
		if size > maxProtoBytes || hasExternal && externalBytes(m) > maxProtoBytes-size {
			threshold = 1024
		}
	}
	if threshold < 0 && !hasExternal {
		if size > maxProtoBytes {
			return tooLarge(size)
		}
		data, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		return WriteFileAtomic(path, data)
	}
	dataFile := opts.DataFile
	if dataFile == "" {
		dataFile = filepath.Base(path) + ".data"
	}
	if err := checkLocation(dataFile); err != nil {
		return err
	}
	dataPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(dataFile))
	if filepath.Clean(dataPath) == filepath.Clean(path) {
		return fmt.Errorf("external data file %q is the model file itself", dataFile)
	}
	// Work on a copy that shares the tensor bytes: the caller's model must
	// not change, and a model near 2 GiB must not be held twice.
	out := cloneSharingBytes(m).(*onnxpb.ModelProto)
	var data *atomicFile
	defer func() { data.abort() }()
	err := WalkTensors(out, func(site TensorSite, t *onnxpb.TensorProto) error {
		raw := t.RawData
		switch {
		case t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL:
			b, err := readExternal(opts.SourceDir, t)
			if err != nil {
				return fmt.Errorf("tensor %s: %w", site, err)
			}
			raw = b
			t.ExternalData = nil
			t.DataLocation = nil
			t.RawData = raw
		case raw == nil && threshold >= 0 && typedByteSize(t) >= threshold:
			// External data is raw bytes: encode the typed values.
			b, err := RawBytes(t)
			if err != nil {
				return fmt.Errorf("tensor %s: %w", site, err)
			}
			raw = b
		}
		if raw == nil || threshold < 0 || int64(len(raw)) < threshold {
			return nil
		}
		if data == nil {
			var err error
			if data, err = createAtomic(dataPath); err != nil {
				return err
			}
		}
		off, err := data.appendAligned(raw, externalAlign)
		if err != nil {
			return fmt.Errorf("write external data %q: %w", dataFile, err)
		}
		t.RawData, t.FloatData, t.Int32Data, t.Int64Data, t.DoubleData, t.Uint64Data = nil, nil, nil, nil, nil, nil
		t.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		t.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(filepath.ToSlash(dataFile))},
			{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(off, 10))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(raw)))},
		}
		return nil
	})
	if err != nil {
		return err
	}
	if size := int64(proto.Size(out)); size > maxProtoBytes {
		return tooLarge(size)
	}
	buf, err := proto.Marshal(out)
	if err != nil {
		return err
	}
	model, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer model.abort()
	if _, err := model.f.Write(buf); err != nil {
		return err
	}
	if err := data.finish(); err != nil {
		return err
	}
	if err := model.finish(); err != nil {
		return err
	}
	// Both files are complete; the data file goes first so that the new
	// model never points at old data.
	if err := data.commit(); err != nil {
		return err
	}
	return model.commit()
}

// externalAlign is the alignment of each tensor in an external data file,
// so that the data can be memory-mapped page by page.
const externalAlign = 4096

func tooLarge(size int64) error {
	return fmt.Errorf("the model is %d bytes, over the 2 GiB limit of a protobuf message; store its tensors as external data (SaveOptions.ExternalThreshold >= 0), with raw_data rather than typed fields", size)
}

// typedByteSize returns the raw size of a tensor held in typed fields, or
// -1 for STRING tensors and malformed dims.
func typedByteSize(t *onnxpb.TensorProto) int64 {
	if t.GetDataType() == int32(onnxpb.TensorProto_STRING) || len(typedFields(t)) == 0 {
		return -1
	}
	n, err := ElemCount(t.GetDims())
	if err != nil {
		return -1
	}
	b, err := ByteSize(t.GetDataType(), n)
	if err != nil {
		return -1
	}
	return b
}

func externalBytes(m *onnxpb.ModelProto) int64 {
	var total int64
	_ = WalkTensors(m, func(_ TensorSite, t *onnxpb.TensorProto) error {
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			if n, err := ElemCount(t.GetDims()); err == nil {
				if b, err := ByteSize(t.GetDataType(), n); err == nil {
					total += b
				}
			}
		}
		return nil
	})
	return total
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old file or the new one, never
// a part. It is the one way onnxq writes output files. A symbolic link at
// path is kept and the file it leads to replaced; anything but a regular
// file (a device, a named pipe, a folder) is refused, never replaced. A
// replaced file keeps its permissions; a new one gets 0666 less the umask.
func WriteFileAtomic(path string, data []byte) error {
	a, err := createAtomic(path)
	if err != nil {
		return err
	}
	defer a.abort()
	if _, err := a.f.Write(data); err != nil {
		return err
	}
	if err := a.finish(); err != nil {
		return err
	}
	return a.commit()
}

// atomicFile is a temporary file beside path that replaces path only when
// committed; abort removes it. A nil *atomicFile does nothing.
type atomicFile struct {
	f      *os.File
	path   string // the file replaced (a symbolic link resolved)
	perm   os.FileMode
	exists bool // path held a file when the write began
	size   int64
	done   bool // renamed over path
}

func createAtomic(path string) (*atomicFile, error) {
	target, perm, exists, err := outpath.Target(path)
	if err != nil {
		return nil, err
	}
	f, err := createTemp(target, perm)
	if err != nil {
		return nil, err
	}
	return &atomicFile{f: f, path: target, perm: perm, exists: exists}, nil
}

// createTemp creates a new file beside path with permission perm (less
// the umask), named after path so that a leftover is recognisable.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	for range 10000 {
		f, err := os.OpenFile(prefix+strconv.FormatUint(rand.Uint64()%1e9, 10), os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot create a temporary file beside %s", path)
}

// appendAligned pads the file with zeros to a multiple of align, writes b
// and returns the offset it was written at.
func (a *atomicFile) appendAligned(b []byte, align int64) (int64, error) {
	if pad := (align - a.size%align) % align; pad > 0 {
		if _, err := a.f.Write(make([]byte, pad)); err != nil {
			return 0, err
		}
		a.size += pad
	}
	off := a.size
	if _, err := a.f.Write(b); err != nil {
		return 0, err
	}
	a.size += int64(len(b))
	return off, nil
}

// finish gives the temporary file the permission of the file it replaces
// (the umask may have removed bits at creation), syncs and closes it.
func (a *atomicFile) finish() error {
	if a == nil {
		return nil
	}
	if a.exists {
		if err := a.f.Chmod(a.perm); err != nil {
			return err
		}
	}
	if err := a.f.Sync(); err != nil {
		return err
	}
	return a.f.Close()
}

// commit renames the finished temporary file over path, unless something
// other than a regular file took its place meanwhile, and syncs the folder
// so that the rename lasts.
func (a *atomicFile) commit() error {
	if a == nil {
		return nil
	}
	if st, err := os.Lstat(a.path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s is %s; onnxq replaces only regular files", a.path, outpath.Kind(st.Mode()))
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return err
	}
	a.done = true
	if d, err := os.Open(filepath.Dir(a.path)); err == nil {
		d.Sync() // best effort: some file systems refuse to sync a folder
		d.Close()
	}
	return nil
}

// abort removes the temporary file unless it was committed.
func (a *atomicFile) abort() {
	if a == nil || a.done {
		return
	}
	a.f.Close()
	os.Remove(a.f.Name())
}
