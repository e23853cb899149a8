package calibrate

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/onnxq/onnxq/onnxio"
)

// File is the saved form of calibration statistics (onnxq calibrate -o).
type File struct {
	Version int               `json:"version"`
	Model   string            `json:"model,omitempty"` // the model file it was measured on
	Samples int               `json:"samples"`         // number of samples observed
	Tensors map[string]*Stats `json:"tensors"`         // by scale-group name
}

// FileVersion is the format version Save writes and Load accepts.
const FileVersion = 1

// Save writes statistics as JSON (atomically). Keys are sorted by
// encoding/json, so the same statistics give the same bytes.
func Save(path string, f *File) error {
	f.Version = FileVersion
	for name, s := range f.Tensors {
		if s.Count == 0 {
			return fmt.Errorf("save %s: tensor %q has no observed values", path, name)
		}
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return onnxio.WriteFileAtomic(path, append(data, '\n'))
}

// Load reads statistics saved by Save.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: not a calibration statistics file: %w", path, err)
	}
	if f.Version != FileVersion {
		return nil, fmt.Errorf("%s: statistics format version %d, want %d", path, f.Version, FileVersion)
	}
	for name, s := range f.Tensors {
		if s == nil || s.Hist == nil || len(s.Hist.Counts) != Bins {
			return nil, fmt.Errorf("%s: tensor %q: histogram missing or not %d bins", path, name, Bins)
		}
	}
	return &f, nil
}

// Merge combines statistics of several shards of one calibration set. The
// shards must come from the same model and name the same tensors.
func Merge(files ...*File) (*File, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("nothing to merge")
	}
	out := &File{Version: FileVersion, Model: files[0].Model, Tensors: map[string]*Stats{}}
	names := make([]string, 0, len(files[0].Tensors))
	for n := range files[0].Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Tensors[n] = NewStats()
	}
	for i, f := range files {
		if len(f.Tensors) != len(names) {
			return nil, fmt.Errorf("shard %d has %d tensors, shard 0 has %d: not shards of one run", i, len(f.Tensors), len(names))
		}
		for _, n := range names {
			s, ok := f.Tensors[n]
			if !ok {
				return nil, fmt.Errorf("shard %d has no statistics for tensor %q", i, n)
			}
			if err := out.Tensors[n].Merge(s); err != nil {
				return nil, fmt.Errorf("tensor %q: %w", n, err)
			}
		}
		out.Samples += f.Samples
	}
	return out, nil
}
