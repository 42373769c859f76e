package safetensors

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"sort"
)

// File is one parsed safetensors file. Its tensors are views into the file's
// bytes (a read-only memory mapping for Open, the caller's buffer for Parse).
// A File is safe for concurrent use by multiple goroutines, except Close.
type File struct {
	path     string
	data     []byte
	tensors  map[string]*Tensor
	names    []string
	metadata map[string]string
	release  func() error // unmaps; nil for Parse
}

// Open memory-maps the file at path read-only and parses it. Close unmaps it.
// On systems without mmap support in this package the file is read into memory.
func Open(path string) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, wrapErr(path, "", ErrIO, err, "cannot open")
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return nil, wrapErr(path, "", ErrIO, err, "cannot stat")
	}
	if !st.Mode().IsRegular() {
		return nil, newErr(path, "", ErrIO, "not a regular file (%s)", st.Mode().Type())
	}
	size := st.Size()
	if size < 8 {
		return nil, newErr(path, "", ErrTruncated, "file is %d bytes, shorter than the 8-byte header length", size)
	}
	if size > math.MaxInt {
		return nil, newErr(path, "", ErrIO, "file of %d bytes is too large to map on this platform", size)
	}
	data, release, err := mapFile(osf, int(size))
	if err != nil {
		return nil, wrapErr(path, "", ErrIO, err, "cannot map %d bytes", size)
	}
	f, err := Parse(path, data)
	if err != nil {
		if release != nil {
			_ = release()
		}
		return nil, err
	}
	f.release = release
	return f, nil
}

// Path returns the path (or, for Parse, the name) the file was opened with.
func (f *File) Path() string { return f.path }

// Names returns the tensor names in sorted order. The caller may modify the
// returned slice.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Len returns the number of tensors in the file.
func (f *File) Len() int { return len(f.names) }

// Tensor returns the named tensor. The *Tensor is shared: callers must not
// modify it or its Shape and Data.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Metadata returns a copy of the header's "__metadata__" map (empty, not nil,
// when the header has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// Close releases the file's memory mapping. Tensor data obtained from the file
// (including zero-copy views) must not be used afterwards. Close is idempotent;
// after it the File has no tensors.
func (f *File) Close() error {
	release := f.release
	f.release, f.data, f.tensors, f.names = nil, nil, nil, nil
	if release == nil {
		return nil
	}
	if err := release(); err != nil {
		return wrapErr(f.path, "", ErrIO, err, "cannot unmap")
	}
	return nil
}

// sortedKeys returns the keys of m in sorted order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isNotExist reports whether err says a file does not exist.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
