package safetensors

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Standard file names of a Hugging Face checkpoint directory.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// maxIndexSize caps how much of an index file is read.
const maxIndexSize = MaxHeaderSize

// Checkpoint is a set of safetensors files seen as one namespace of tensors:
// a single file, the shards of a sharded checkpoint, or files assembled by
// NewCheckpoint. Tensor names are unique across its files.
type Checkpoint struct {
	label   string // directory (or file list) for error messages
	files   []*File
	tensors map[string]*Tensor
	names   []string
}

// OpenDir opens the checkpoint in dir. It uses, in this order of preference:
// dir/model.safetensors; the shards listed in dir/model.safetensors.index.json
// (every weight_map entry must be present in the shard it names); or else
// every *.safetensors file in dir. The same tensor name in two files is an
// error. Close releases all files.
func OpenDir(dir string) (*Checkpoint, error) {
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		return newCheckpoint(dir, []*File{f})
	} else if !isNotExist(err) {
		return nil, wrapErr(single, "", ErrIO, err, "cannot stat")
	}

	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return openIndexed(dir, index)
	} else if !isNotExist(err) {
		return nil, wrapErr(index, "", ErrIO, err, "cannot stat")
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, wrapErr(dir, "", ErrNoCheckpoint, err, "cannot list the directory")
	}
	var files []*File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".safetensors") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
			continue // dangling link, directory, ...
		}
		f, err := Open(path)
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, newErr(dir, "", ErrNoCheckpoint, "no %s, no %s and no *.safetensors file", SingleFileName, IndexFileName)
	}
	return newCheckpoint(dir, files)
}

// openIndexed opens the shards named by the index file.
func openIndexed(dir, index string) (*Checkpoint, error) {
	weightMap, err := readIndex(index)
	if err != nil {
		return nil, err
	}
	shardOf := map[string]*File{}
	var files []*File
	fail := func(err error) (*Checkpoint, error) {
		closeAll(files)
		return nil, err
	}
	for _, shard := range uniqueValues(weightMap) {
		path := filepath.Join(dir, filepath.FromSlash(shard))
		if _, err := os.Stat(path); isNotExist(err) {
			return fail(wrapErr(path, "", ErrMissingShard, err, "shard %q named by %s is missing", shard, index))
		}
		f, err := Open(path)
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
		shardOf[shard] = f
	}
	for _, name := range sortedKeys(weightMap) {
		f := shardOf[weightMap[name]]
		if _, ok := f.Tensor(name); !ok {
			return fail(newErr(f.Path(), name, ErrTensorNotFound, "listed in %s's weight_map but absent from shard %q", index, weightMap[name]))
		}
	}
	return newCheckpoint(dir, files)
}

// readIndex reads and validates an index file, returning its weight_map.
func readIndex(index string) (map[string]string, error) {
	fail := func(format string, args ...any) error {
		return newErr(index, "", ErrInvalidIndex, format, args...)
	}
	f, err := os.Open(index)
	if err != nil {
		return nil, wrapErr(index, "", ErrIO, err, "cannot open")
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxIndexSize+1))
	if err != nil {
		return nil, wrapErr(index, "", ErrIO, err, "cannot read")
	}
	if len(raw) > maxIndexSize {
		return nil, fail("larger than %d bytes", maxIndexSize)
	}
	if !json.Valid(raw) {
		err := json.Unmarshal(raw, new(any)) // for the position of the error
		return nil, wrapErr(index, "", ErrInvalidIndex, err, "not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return nil, fail("must be a JSON object, got %s", describe(tok))
	}
	var weightMap map[string]string
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		if key != "weight_map" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, wrapErr(index, "", ErrInvalidIndex, err, "malformed value of %q", key)
			}
			continue
		}
		if weightMap != nil {
			return nil, fail("duplicate \"weight_map\" key")
		}
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			return nil, fail("\"weight_map\" must be an object of tensor name to shard file, got %s", describe(tok))
		}
		weightMap = map[string]string{}
		for dec.More() {
			tok, _ := dec.Token()
			name, _ := tok.(string)
			if _, dup := weightMap[name]; dup {
				return nil, fail("\"weight_map\": tensor %q is listed twice", name)
			}
			tok, _ = dec.Token()
			shard, ok := tok.(string)
			if !ok {
				return nil, fail("\"weight_map\": shard of tensor %q must be a string, got %s", name, describe(tok))
			}
			if !filepath.IsLocal(filepath.FromSlash(shard)) {
				return nil, fail("\"weight_map\": shard %q of tensor %q is not a file name inside the checkpoint directory", shard, name)
			}
			weightMap[name] = shard
		}
		dec.Token() // '}'
	}
	if weightMap == nil {
		return nil, fail("no \"weight_map\"")
	}
	if len(weightMap) == 0 {
		return nil, fail("\"weight_map\" is empty")
	}
	return weightMap, nil
}

// uniqueValues returns the distinct values of m, sorted.
func uniqueValues(m map[string]string) []string {
	set := map[string]struct{}{}
	for _, v := range m {
		set[v] = struct{}{}
	}
	return sortedKeys(set)
}

// NewCheckpoint assembles already-parsed files into one checkpoint; it takes
// ownership of them (Close closes them, and so does a failed NewCheckpoint).
// The same tensor name in two files is an error.
func NewCheckpoint(files ...*File) (*Checkpoint, error) {
	label := "in-memory checkpoint"
	if len(files) > 0 {
		dir := filepath.Dir(files[0].Path())
		paths := make([]string, len(files))
		for i, f := range files {
			paths[i] = f.Path()
			if filepath.Dir(f.Path()) != dir {
				dir = ""
			}
		}
		label = strings.Join(paths, ", ")
		if dir != "" && dir != "." {
			label = dir
		}
	}
	return newCheckpoint(label, files)
}

func newCheckpoint(label string, files []*File) (*Checkpoint, error) {
	if len(files) == 0 {
		return nil, newErr(label, "", ErrNoCheckpoint, "no files")
	}
	c := &Checkpoint{label: label, files: files, tensors: map[string]*Tensor{}}
	for _, f := range files {
		for _, name := range f.names {
			t := f.tensors[name]
			if prev, dup := c.tensors[name]; dup {
				closeAll(files)
				return nil, newErr(label, name, ErrDuplicateTensor, "present in both %s and %s", prev.File, t.File)
			}
			c.tensors[name] = t
			c.names = append(c.names, name)
		}
	}
	sort.Strings(c.names)
	return c, nil
}

func closeAll(files []*File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// Dir returns the checkpoint's directory (for NewCheckpoint: the files' common
// directory, or their paths).
func (c *Checkpoint) Dir() string { return c.label }

// Files returns the checkpoint's files, in the order they were opened.
func (c *Checkpoint) Files() []*File { return append([]*File(nil), c.files...) }

// Tensor returns the named tensor, or an ErrTensorNotFound error naming the
// checkpoint and the tensor. The *Tensor is shared: do not modify it.
func (c *Checkpoint) Tensor(name string) (*Tensor, error) {
	if t, ok := c.tensors[name]; ok {
		return t, nil
	}
	return nil, newErr(c.label, name, ErrTensorNotFound, "not in the checkpoint (%d tensors)", len(c.names))
}

// Lookup returns the named tensor and whether it exists.
func (c *Checkpoint) Lookup(name string) (*Tensor, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Names returns all tensor names, sorted. The caller may modify the slice.
func (c *Checkpoint) Names() []string { return append([]string(nil), c.names...) }

// Close closes every file of the checkpoint and returns the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.files, c.tensors, c.names = nil, nil, nil
	return first
}

// describe names a JSON token's type for error messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "a list"
		}
		return strconv.Quote(string(v))
	case string:
		return "the string " + strconv.Quote(v)
	case json.Number:
		return "the number " + string(v)
	case float64:
		return "the number " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return "an unexpected token"
}
