package dataset

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// ReadNpz reads every array of an .npz file (a zip of .npy files, stored
// or deflated, as np.savez and np.savez_compressed write them). The key of
// each array is its entry name without ".npy".
func ReadNpz(path string) (map[string]*graph.Tensor, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .npz (zip) file: %w", path, err)
	}
	defer zr.Close()
	arrays := map[string]*graph.Tensor{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		name := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := arrays[name]; dup {
			return nil, fmt.Errorf("%s: array %q appears twice", path, name)
		}
		t, err := readNpzEntry(f)
		if err != nil {
			return nil, fmt.Errorf("%s: array %q: %w", path, name, err)
		}
		arrays[name] = t
	}
	if len(arrays) == 0 {
		return nil, fmt.Errorf("%s: the .npz file holds no arrays", path)
	}
	return arrays, nil
}

func readNpzEntry(f *zip.File) (*graph.Tensor, error) {
	if f.Method != zip.Store && f.Method != zip.Deflate {
		return nil, fmt.Errorf("zip compression method %d is not supported (stored and deflated are)", f.Method)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	t, err := readNpy(rc, int64(f.UncompressedSize64))
	if err != nil {
		return nil, err
	}
	// Read to the end so the zip reader verifies the entry's CRC-32.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return nil, err
	}
	return t, nil
}

// NpzOptions controls how WriteNpz writes.
type NpzOptions struct {
	// Compress deflates the entries, as np.savez_compressed does; the
	// default stores them, as np.savez does.
	Compress bool
}

// npzTime is the modification time of every entry WriteNpz writes, so the
// same arrays always give the same bytes: the earliest time a zip header
// can express.
var npzTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteNpz writes arrays to path as an .npz file, atomically. The output is
// deterministic: entries in order of name, each "NAME.npy", with a fixed
// modification time, so the same arrays give byte-identical files (for a
// given onnxq build when Compress is set).
func WriteNpz(path string, arrays map[string]*graph.Tensor, opts NpzOptions) error {
	b, err := EncodeNpz(arrays, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return onnxio.WriteFileAtomic(path, b)
}

// EncodeNpz returns arrays in .npz format; see WriteNpz.
func EncodeNpz(arrays map[string]*graph.Tensor, opts NpzOptions) ([]byte, error) {
	names := make([]string, 0, len(arrays))
	for n := range arrays {
		if n == "" {
			return nil, fmt.Errorf("an array has an empty name")
		}
		names = append(names, n)
	}
	sort.Strings(names)
	method := zip.Store
	if opts.Compress {
		method = zip.Deflate
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		data, err := EncodeNpy(arrays[n])
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", n, err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n + ".npy", Method: method, Modified: npzTime})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadArrays reads a data file of named arrays: .npz (many arrays) or .npy
// (one array, named after the file without its extension).
func ReadArrays(path string) (map[string]*graph.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var magic [6]byte
	_, err = io.ReadFull(f, magic[:])
	f.Close()
	if err == nil && string(magic[:]) == npyMagic {
		t, err := ReadNpyFile(path)
		if err != nil {
			return nil, err
		}
		base := path[strings.LastIndexAny(path, `/\`)+1:]
		return map[string]*graph.Tensor{strings.TrimSuffix(base, ".npy"): t}, nil
	}
	return ReadNpz(path)
}
