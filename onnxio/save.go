package onnxio

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/proto"

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
	if threshold == 0 {
		threshold = -1
		if proto.Size(m) > maxProtoBytes || hasExternal && externalBytes(m) > maxProtoBytes-int64(proto.Size(m)) {
			threshold = 1024
		}
	}
	if threshold < 0 && !hasExternal {
		data, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		return WriteFileAtomic(path, data)
	}
	// Work on a copy: the caller's model must not change.
	out := proto.Clone(m).(*onnxpb.ModelProto)
	dataFile := opts.DataFile
	if dataFile == "" {
		dataFile = filepath.Base(path) + ".data"
	}
	if err := checkLocation(dataFile); err != nil {
		return err
	}
	var blob []byte
	err := WalkTensors(out, func(site TensorSite, t *onnxpb.TensorProto) error {
		raw := t.RawData
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			b, err := readExternal(opts.SourceDir, t)
			if err != nil {
				return fmt.Errorf("tensor %s: %w", site, err)
			}
			raw = b
			t.ExternalData = nil
			t.DataLocation = nil
			t.RawData = raw
		}
		if raw == nil || threshold < 0 || int64(len(raw)) < threshold {
			return nil
		}
		for len(blob)%4096 != 0 {
			blob = append(blob, 0)
		}
		off := len(blob)
		blob = append(blob, raw...)
		t.RawData = nil
		t.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		t.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(filepath.ToSlash(dataFile))},
			{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(off))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(raw)))},
		}
		return nil
	})
	if err != nil {
		return err
	}
	data, err := proto.Marshal(out)
	if err != nil {
		return err
	}
	if blob != nil {
		if err := WriteFileAtomic(filepath.Join(filepath.Dir(path), filepath.FromSlash(dataFile)), blob); err != nil {
			return err
		}
	}
	return WriteFileAtomic(path, data)
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
// a part. It is the one way onnxq writes output files.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
