package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// idxTypes maps the type byte of an idx file header to its element type
// and size; idx data is big-endian.
var idxTypes = map[byte]struct {
	dtype graph.DType
	size  int
}{
	0x08: {graph.Uint8, 1},
	0x09: {graph.Int8, 1},
	0x0B: {graph.Int16, 2},
	0x0C: {graph.Int32, 4},
	0x0D: {graph.Float, 4},
	0x0E: {graph.Double, 8},
}

// ReadIDX reads an idx file (the format of the MNIST and Fashion-MNIST
// files: t10k-images-idx3-ubyte, ...), plain or gzip-compressed (detected
// from the content, not the name).
func ReadIDX(path string) (*graph.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	t, err := readIDX(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func readIDX(r io.Reader) (*graph.Tensor, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("not an idx file: %w", eofMeansShort(err))
	}
	typ, ok := idxTypes[head[2]]
	if head[0] != 0 || head[1] != 0 || !ok || head[3] == 0 {
		return nil, fmt.Errorf("not an idx file (magic % x)", head)
	}
	shape := make([]int64, head[3])
	for i := range shape {
		var d [4]byte
		if _, err := io.ReadFull(r, d[:]); err != nil {
			return nil, fmt.Errorf("truncated idx header: %w", eofMeansShort(err))
		}
		shape[i] = int64(binary.BigEndian.Uint32(d[:]))
	}
	count, err := onnxio.ElemCount(shape)
	if err != nil || count > math.MaxInt32 {
		return nil, fmt.Errorf("idx shape %v is too large", shape)
	}
	need := count * int64(typ.size)
	raw, err := io.ReadAll(io.LimitReader(r, need))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != need {
		return nil, fmt.Errorf("idx shape %v needs %d data bytes, the file has %d", shape, need, len(raw))
	}
	// idx is big-endian: swap to little-endian in place, then decode.
	for i := 0; typ.size > 1 && i < len(raw); i += typ.size {
		for a, b := i, i+typ.size-1; a < b; a, b = a+1, b-1 {
			raw[a], raw[b] = raw[b], raw[a]
		}
	}
	return graph.NewTensor(typ.dtype, shape, decodeLE(typ.dtype, int(count), raw))
}

// ReadIDXLabels reads an idx1 label file (e.g. t10k-labels-idx1-ubyte.gz)
// as int64 labels.
func ReadIDXLabels(path string) ([]int64, error) {
	t, err := ReadIDX(path)
	if err != nil {
		return nil, err
	}
	l, err := Labels(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}
