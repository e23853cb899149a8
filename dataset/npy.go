package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"

	"github.com/onnxq/onnxq/graph"
	"github.com/onnxq/onnxq/onnxio"
)

// npyMagic starts every .npy file; the format version follows it.
const npyMagic = "\x93NUMPY"

// npyAlign is the alignment numpy pads the header to, so the data starts
// on a 64-byte boundary.
const npyAlign = 64

// ReadNpyFile reads one array from an .npy file.
func ReadNpyFile(path string) (*graph.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	t, err := readNpy(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadNpy reads one array in .npy format (versions 1.0, 2.0 and 3.0) from
// r. Arrays must be stored in C order and little-endian; the element types
// are f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1.
func ReadNpy(r io.Reader) (*graph.Tensor, error) { return readNpy(r, -1) }

// readNpy reads an .npy stream of at most limit bytes (-1: unknown), so a
// header that claims more data than the file holds fails before any large
// allocation.
func readNpy(r io.Reader, limit int64) (*graph.Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("not an .npy file: %w", eofMeansShort(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("not an .npy file (it does not start with \\x93NUMPY)")
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	var lenBytes int64
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("truncated .npy header: %w", eofMeansShort(err))
		}
		hlen, lenBytes = int64(binary.LittleEndian.Uint16(b[:])), 2
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("truncated .npy header: %w", eofMeansShort(err))
		}
		hlen, lenBytes = int64(binary.LittleEndian.Uint32(b[:])), 4
	default:
		return nil, fmt.Errorf(".npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", major, minor)
	}
	if limit >= 0 && 8+lenBytes+hlen > limit {
		return nil, fmt.Errorf(".npy header of %d bytes does not fit in the %d-byte file", hlen, limit)
	}
	if hlen > 1<<24 {
		return nil, fmt.Errorf(".npy header of %d bytes is implausibly large", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("truncated .npy header: %w", eofMeansShort(err))
	}
	text := latin1(hb)
	if major == 3 {
		if !utf8.Valid(hb) {
			return nil, fmt.Errorf(".npy 3.0 header is not valid UTF-8")
		}
		text = string(hb)
	}
	h, err := parseNpyHeader(text)
	if err != nil {
		return nil, err
	}
	typ, err := npyHeaderType(h)
	if err != nil {
		return nil, err
	}
	count, err := onnxio.ElemCount(h.shape)
	if err != nil {
		return nil, fmt.Errorf("shape %v: %w", h.shape, err)
	}
	need := count * int64(typ.size)
	if count > math.MaxInt32*8 || need/int64(typ.size) != count {
		return nil, fmt.Errorf("shape %v has too many elements", h.shape)
	}
	if limit >= 0 {
		if have := limit - 8 - lenBytes - hlen; need > have {
			return nil, fmt.Errorf("shape %v of %s needs %d data bytes, the file has %d", h.shape, h.descr, need, have)
		}
	}
	raw, err := io.ReadAll(io.LimitReader(r, need))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != need {
		return nil, fmt.Errorf("shape %v of %s needs %d data bytes, the file has %d", h.shape, h.descr, need, len(raw))
	}
	return graph.NewTensor(typ.dtype, h.shape, decodeLE(typ.dtype, int(count), raw))
}

// npyHeaderType checks the byte order and memory order of a header and
// returns its element type.
func npyHeaderType(h npyHeader) (npyType, error) {
	if len(h.descr) < 2 {
		return npyType{}, fmt.Errorf("unsupported element type %q", h.descr)
	}
	order, code := h.descr[0], h.descr[1:]
	typ, ok := npyTypeByCode(code)
	if !ok {
		return npyType{}, fmt.Errorf("unsupported element type %q (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", h.descr)
	}
	switch {
	case typ.size == 1, order == '<', order == '|', order == '=':
		// '=' (native) never appears in files numpy writes; onnxq runs on
		// little-endian machines only.
	case order == '>':
		return npyType{}, fmt.Errorf("element type %q is big-endian, which onnxq does not read: save a.astype('<%s') instead", h.descr, code)
	default:
		return npyType{}, fmt.Errorf("element type %q has an unknown byte order", h.descr)
	}
	if h.fortran && len(h.shape) > 1 {
		return npyType{}, fmt.Errorf("array of shape %v is stored in Fortran (column-major) order, which onnxq does not read: save np.ascontiguousarray(a) instead", h.shape)
	}
	return typ, nil
}

// WriteNpyFile writes t to path in .npy format, atomically.
func WriteNpyFile(path string, t *graph.Tensor) error {
	b, err := EncodeNpy(t)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return onnxio.WriteFileAtomic(path, b)
}

// WriteNpy writes t to w in .npy format.
func WriteNpy(w io.Writer, t *graph.Tensor) error {
	b, err := EncodeNpy(t)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// EncodeNpy returns t in .npy format, byte for byte as numpy's np.save
// writes it: version 1.0 (2.0 when the header needs it), C order,
// little-endian.
func EncodeNpy(t *graph.Tensor) ([]byte, error) {
	typ, ok := npyTypeByDType(t.DType)
	if !ok {
		return nil, fmt.Errorf("%s tensors cannot be stored in .npy files", t.DType)
	}
	header := formatNpyHeader(npyHeader{descr: typ.descr(), shape: t.Shape})
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	hlen := len(header) + 1 // the closing newline
	if pad := padTo(len(npyMagic)+2+2+hlen, npyAlign); hlen+pad <= math.MaxUint16 {
		buf.Write([]byte{1, 0})
		binary.Write(&buf, binary.LittleEndian, uint16(hlen+pad))
		hlen += pad
	} else {
		pad = padTo(len(npyMagic)+2+4+hlen, npyAlign)
		buf.Write([]byte{2, 0})
		binary.Write(&buf, binary.LittleEndian, uint32(hlen+pad))
		hlen += pad
	}
	buf.WriteString(header)
	buf.Write(bytes.Repeat([]byte{' '}, hlen-len(header)-1))
	buf.WriteByte('\n')
	buf.Write(t.RawBytes())
	return buf.Bytes(), nil
}

// padTo returns the padding numpy puts after n header bytes:
// align - n%align, so an already aligned header still gets align bytes.
func padTo(n, align int) int { return align - n%align }

// latin1 decodes ISO-8859-1 bytes, the encoding of .npy 1.0/2.0 headers.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func eofMeansShort(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
