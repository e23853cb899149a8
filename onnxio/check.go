package onnxio

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onnxq/onnxq/internal/outpath"
	"github.com/onnxq/onnxq/onnxio/onnxpb"
)

// ElemCount returns the number of elements of a tensor with the given
// dims, or an error if a dim is negative or the product overflows int64.
func ElemCount(dims []int64) (int64, error) {
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("dim %d is negative (%d)", i, d)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("dims %v: element count overflows int64", dims)
		}
		n = int64(lo)
	}
	return n, nil
}

// ByteSize returns the number of bytes that raw_data (or an external data
// block) of a tensor must have: ceil(count * bits / 8). It fails for STRING
// and unknown types and on overflow.
func ByteSize(dt int32, count int64) (int64, error) {
	b := ElemBits(dt)
	if b == 0 {
		return 0, fmt.Errorf("data type %s has no fixed element size", DataTypeName(dt))
	}
	if count > math.MaxInt64/int64(b) {
		return 0, fmt.Errorf("%d elements of %s overflow int64 bytes", count, DataTypeName(dt))
	}
	return (count*int64(b) + 7) / 8, nil
}

// ExternalInfo is the parsed external_data of a tensor.
type ExternalInfo struct {
	Location string // relative path, as stored in the model
	Offset   int64
	Length   int64 // -1 when the model does not say
}

// ParseExternal parses a tensor's external_data entries. It rejects a
// location that is absolute, empty or leaves the model's folder, and
// offsets or lengths that are not non-negative integers.
func ParseExternal(t *onnxpb.TensorProto) (ExternalInfo, error) {
	info := ExternalInfo{Length: -1}
	for _, kv := range t.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			info.Location = kv.GetValue()
		case "offset", "length":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return info, fmt.Errorf("external data %s %q is not a non-negative integer", kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				info.Offset = v
			} else {
				info.Length = v
			}
		}
	}
	if err := checkLocation(info.Location); err != nil {
		return info, err
	}
	return info, nil
}

func checkLocation(loc string) error {
	switch {
	case loc == "":
		return fmt.Errorf("external data has no location")
	case strings.ContainsRune(loc, 0):
		return fmt.Errorf("external data location %q contains a NUL byte", loc)
	case filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`):
		return fmt.Errorf("external data location %q is absolute; it must be relative to the model's folder", loc)
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) || clean == "." {
		return fmt.Errorf("external data location %q leaves the model's folder", loc)
	}
	return nil
}

// checkModel verifies every tensor of m. dir is the model's folder (for
// external data), or "" when the model did not come from a file.
func checkModel(m *onnxpb.ModelProto, dir string) error {
	sizes := map[string]int64{}
	return WalkTensors(m, func(site TensorSite, t *onnxpb.TensorProto) error {
		if err := checkTensor(t, dir, sizes); err != nil {
			return fmt.Errorf("tensor %s: %w", site, err)
		}
		return nil
	})
}

func checkTensor(t *onnxpb.TensorProto, dir string, fileSizes map[string]int64) error {
	dt := t.GetDataType()
	if _, known := onnxpb.TensorProto_DataType_name[dt]; !known || dt == int32(onnxpb.TensorProto_UNDEFINED) {
		return fmt.Errorf("data type %s is not a tensor element type", DataTypeName(dt))
	}
	n, err := ElemCount(t.GetDims())
	if err != nil {
		return err
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return checkExternal(t, n, dir, fileSizes)
	}
	fields := typedFields(t)
	if stored := append(rawField(t), fields...); len(stored) > 1 {
		return fmt.Errorf("holds values in both %s and %s; a tensor keeps them in one field", stored[0], stored[1])
	}
	if t.RawData != nil {
		if dt == int32(onnxpb.TensorProto_STRING) {
			return fmt.Errorf("STRING tensor uses raw_data")
		}
		want, err := ByteSize(dt, n)
		if err != nil {
			return err
		}
		if int64(len(t.RawData)) != want {
			return fmt.Errorf("raw_data has %d bytes but dims %v of %s need %d", len(t.RawData), t.GetDims(), DataTypeName(dt), want)
		}
		return nil
	}
	if len(fields) == 0 {
		if n > 0 {
			return fmt.Errorf("has %d elements (dims %v) but no data", n, t.GetDims())
		}
		return nil
	}
	field := TypedField(dt)
	if fields[0] != field {
		return fmt.Errorf("%s tensor stores its values in %s; they belong in %s", DataTypeName(dt), fields[0], field)
	}
	have := typedLen(t, field)
	want := n
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_COMPLEX64, onnxpb.TensorProto_COMPLEX128:
		want = 2 * n // real and imaginary parts
		if n > math.MaxInt64/2 {
			want = -1 // no slice is that long
		}
	case onnxpb.TensorProto_INT4, onnxpb.TensorProto_UINT4, onnxpb.TensorProto_FLOAT4E2M1:
		if have == n/2+n%2 {
			want = have // two values packed in each entry
		}
	}
	if have != want {
		return fmt.Errorf("%s has %d values but dims %v of %s need %d", field, have, t.GetDims(), DataTypeName(dt), want)
	}
	return nil
}

// checkExternal checks the external_data entries of a tensor of n elements
// and, when dir is set, that the data file is inside dir and long enough.
func checkExternal(t *onnxpb.TensorProto, n int64, dir string, fileSizes map[string]int64) error {
	if stored := append(rawField(t), typedFields(t)...); len(stored) > 0 {
		return fmt.Errorf("is stored as external data but also holds values in the file (%s)", strings.Join(stored, ", "))
	}
	dt := t.GetDataType()
	if dt == int32(onnxpb.TensorProto_STRING) {
		return fmt.Errorf("STRING tensors cannot be stored as external data")
	}
	want, err := ByteSize(dt, n)
	if err != nil {
		return err
	}
	info, err := ParseExternal(t)
	if err != nil {
		return err
	}
	if info.Length >= 0 && info.Length != want {
		return fmt.Errorf("external data length %d disagrees with dims %v of %s (%d bytes)", info.Length, t.GetDims(), DataTypeName(dt), want)
	}
	if dir == "" {
		return nil
	}
	size, ok := fileSizes[info.Location]
	if !ok {
		f, st, err := openExternal(dir, info.Location)
		if err != nil {
			return err
		}
		f.Close()
		size = st.Size()
		fileSizes[info.Location] = size
	}
	if info.Offset > size || want > size-info.Offset {
		return fmt.Errorf("external data %q holds %d bytes; the tensor needs %d at offset %d", info.Location, size, want, info.Offset)
	}
	return nil
}

// TypedField returns the name of the TensorProto field that holds the
// values of data type dt when raw_data is not used.
func TypedField(dt int32) string {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_COMPLEX64:
		return "float_data"
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_COMPLEX128:
		return "double_data"
	case onnxpb.TensorProto_INT64:
		return "int64_data"
	case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		return "uint64_data"
	case onnxpb.TensorProto_STRING:
		return "string_data"
	}
	return "int32_data"
}

func rawField(t *onnxpb.TensorProto) []string {
	if t.RawData != nil {
		return []string{"raw_data"}
	}
	return nil
}

// typedFields returns the names of the typed data fields that hold values.
func typedFields(t *onnxpb.TensorProto) []string {
	var fs []string
	for _, f := range typedFieldNames {
		if typedLen(t, f) > 0 {
			fs = append(fs, f)
		}
	}
	return fs
}

var typedFieldNames = []string{"float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"}

// typedLen returns the number of entries in the named typed data field.
func typedLen(t *onnxpb.TensorProto, field string) int64 {
	switch field {
	case "float_data":
		return int64(len(t.FloatData))
	case "int32_data":
		return int64(len(t.Int32Data))
	case "int64_data":
		return int64(len(t.Int64Data))
	case "double_data":
		return int64(len(t.DoubleData))
	case "uint64_data":
		return int64(len(t.Uint64Data))
	case "string_data":
		return int64(len(t.StringData))
	}
	return 0
}

// openExternal opens the external data file loc for reading through an
// os.Root on the model's folder dir: no path, symbolic link or ".." can
// lead outside dir, even when the folder changes while it is read (a
// location checked first and opened by path afterwards could be swapped
// for a link in between). Only a regular file is opened: a folder, device
// or named pipe is refused before it is opened (reading a pipe that
// nobody writes to would never end), and again after, by the opened file,
// in case it was swapped in between. The caller reads the file returned.
func openExternal(dir, loc string) (*os.File, fs.FileInfo, error) {
	if err := checkLocation(loc); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model folder: %w", err)
	}
	defer root.Close()
	name := filepath.FromSlash(loc)
	st, err := root.Stat(name)
	if err != nil {
		return nil, nil, externalError(loc, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, notRegular(loc, st)
	}
	f, err := root.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, nil, externalError(loc, err)
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, nil, externalError(loc, err)
		}
		return nil, nil, notRegular(loc, st)
	}
	return f, st, nil
}

// escapesRoot is the reason os.Root gives for a path that leads outside
// it; the os package does not export the error.
const escapesRoot = "path escapes from parent"

// externalError says why the external data file loc could not be opened.
func externalError(loc string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if pe.Err.Error() == escapesRoot {
			return fmt.Errorf("external data location %q leaves the model's folder", loc)
		}
		err = pe.Err
	}
	return fmt.Errorf("external data file %q: %w", loc, err)
}

func notRegular(loc string, st fs.FileInfo) error {
	return fmt.Errorf("external data %q is not a regular file but %s", loc, outpath.Kind(st.Mode()))
}
