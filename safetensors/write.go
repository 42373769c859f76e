package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// WriteTensor is one tensor to be written by Write: Data holds its elements
// little-endian, exactly DType size × product(Shape) bytes.
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Write writes tensors and metadata in the Hugging Face safetensors layout: an
// 8-byte little-endian header length, a compact JSON header padded with spaces
// to a multiple of 8 bytes ("__metadata__" first, when metadata is non-empty,
// then the tensors in the given order), then the tensors' data back to back in
// the given order. Names must be unique, non-empty and not "__metadata__";
// dtypes must be known; Data must match DType and Shape.
func Write(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	return write("write", w, tensors, metadata)
}

func write(label string, w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	hdr, err := buildHeader(label, tensors, metadata)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return wrapErr(label, "", ErrIO, err, "cannot write")
	}
	if _, err := w.Write(hdr); err != nil {
		return wrapErr(label, "", ErrIO, err, "cannot write")
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return wrapErr(label, t.Name, ErrIO, err, "cannot write")
		}
	}
	return nil
}

// buildHeader validates tensors and returns the padded JSON header.
func buildHeader(label string, tensors []WriteTensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range sortedKeys(metadata) {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, newErr(label, "", ErrInvalidHeader, "metadata entry %q is not valid UTF-8", k)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
	}
	seen := make(map[string]struct{}, len(tensors))
	var off uint64
	for i, t := range tensors {
		switch {
		case t.Name == "":
			return nil, newErr(label, "", ErrInvalidTensor, "tensor %d has an empty name", i)
		case !utf8.ValidString(t.Name):
			return nil, newErr(label, t.Name, ErrInvalidTensor, "name is not valid UTF-8")
		case t.Name == metadataKey:
			return nil, newErr(label, t.Name, ErrInvalidTensor, "name is reserved")
		case !t.DType.Known():
			return nil, newErr(label, t.Name, ErrUnknownDType, "unknown dtype %q", string(t.DType))
		}
		if _, dup := seen[t.Name]; dup {
			return nil, newErr(label, t.Name, ErrDuplicateTensor, "given more than once")
		}
		seen[t.Name] = struct{}{}
		if len(t.Shape) > MaxRank {
			return nil, newErr(label, t.Name, ErrInvalidTensor, "shape has %d dimensions, more than %d", len(t.Shape), MaxRank)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, newErr(label, t.Name, ErrInvalidTensor, "shape %v has a negative dimension", t.Shape)
			}
		}
		need, why := byteSize(t.DType, t.Shape)
		if why != "" {
			return nil, newErr(label, t.Name, ErrSizeMismatch, "size of %s %v %s", t.DType, t.Shape, why)
		}
		if need != uint64(len(t.Data)) {
			return nil, newErr(label, t.Name, ErrSizeMismatch, "data is %d bytes but %s %v needs %d", len(t.Data), t.DType, t.Shape, need)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, string(t.DType))
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		b.WriteString(`],"data_offsets":[`)
		b.WriteString(strconv.FormatUint(off, 10))
		b.WriteByte(',')
		off += need
		b.WriteString(strconv.FormatUint(off, 10))
		b.WriteString("]}")
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, newErr(label, "", ErrHeaderTooLarge, "header would be %d bytes, over the %d-byte limit", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), nil
}

// writeJSONString appends s (valid UTF-8) as a JSON string literal, escaping
// only what JSON requires, as the reference writer (serde_json) does.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// WriteFile writes a safetensors file at path (see Write). It writes a
// temporary file in the same directory and renames it into place, so readers
// never see a partial file.
func WriteFile(path string, tensors []WriteTensor, metadata map[string]string) error {
	if _, err := buildHeader(path, tensors, metadata); err != nil {
		return err // validate before creating anything
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return wrapErr(path, "", ErrIO, err, "cannot create")
	}
	if err := writeTemp(path, tmp, tensors, metadata); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return wrapErr(path, "", ErrIO, err, "cannot close")
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return wrapErr(path, "", ErrIO, err, "cannot rename into place")
	}
	return nil
}

// writeTemp writes the file's bytes into tmp and makes it world-readable.
func writeTemp(path string, tmp *os.File, tensors []WriteTensor, metadata map[string]string) error {
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(path, bw, tensors, metadata); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return wrapErr(path, "", ErrIO, err, "cannot write")
	}
	if err := tmp.Chmod(0o644); err != nil {
		return wrapErr(path, "", ErrIO, err, "cannot chmod")
	}
	return nil
}
