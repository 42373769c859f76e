package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeShard writes a small F32 file holding the named tensors (2 elements
// each) into dir.
func writeShard(t *testing.T, dir, file string, names ...string) {
	t.Helper()
	var ts []WriteTensor
	for _, n := range names {
		ts = append(ts, WriteTensor{Name: n, DType: F32, Shape: []int{2}, Data: make([]byte, 8)})
	}
	if err := WriteFile(filepath.Join(dir, file), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const goodIndex = `{"metadata": {"total_size": 32},
 "weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors", "d": "s2.safetensors"}}`

func TestOpenDirSharded(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, "s1.safetensors", "a", "b")
	writeShard(t, dir, "s2.safetensors", "c", "d")
	writeShard(t, dir, "unrelated.safetensors", "a") // not in the index: ignored
	writeText(t, filepath.Join(dir, IndexFileName), goodIndex)
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Names(); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("names %v", got)
	}
	d, err := c.Tensor("d")
	if err != nil || filepath.Base(d.File) != "s2.safetensors" {
		t.Fatalf("d: %v %v", d, err)
	}
	if _, ok := c.Lookup("zz"); ok {
		t.Fatal("Lookup found a missing tensor")
	}
	if c.Dir() != dir {
		t.Errorf("Dir %q", c.Dir())
	}
}

func TestOpenDirPrefersSingleFile(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, SingleFileName, "x")
	writeText(t, filepath.Join(dir, IndexFileName), `not json`) // never read
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !reflect.DeepEqual(c.Names(), []string{"x"}) {
		t.Fatal(c.Names())
	}
}

func TestOpenDirFallbackGlob(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, "one.safetensors", "a")
	writeShard(t, dir, "two.safetensors", "b")
	writeText(t, filepath.Join(dir, "notes.txt"), "hi")
	if err := os.Mkdir(filepath.Join(dir, "sub.safetensors"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !reflect.DeepEqual(c.Names(), []string{"a", "b"}) || len(c.Files()) != 2 {
		t.Fatal(c.Names())
	}
}

func TestOpenDirErrors(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		want   error
		msgHas []string
	}{
		{"empty dir", func(t *testing.T, dir string) {}, ErrNoCheckpoint, []string{"no model.safetensors"}},
		{"index not JSON", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {`)
		}, ErrInvalidIndex, []string{IndexFileName, "not valid JSON"}},
		{"index is a list", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `[]`)
		}, ErrInvalidIndex, []string{"must be a JSON object"}},
		{"index without weight_map", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"metadata": {}}`)
		}, ErrInvalidIndex, []string{`no "weight_map"`}},
		{"weight_map empty", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {}}`)
		}, ErrInvalidIndex, []string{"empty"}},
		{"weight_map wrong type", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": ["a"]}`)
		}, ErrInvalidIndex, []string{"must be an object"}},
		{"weight_map value not string", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {"a": 1}}`)
		}, ErrInvalidIndex, []string{`tensor "a"`, "must be a string"}},
		{"weight_map duplicate", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}}`)
		}, ErrInvalidIndex, []string{`tensor "a" is listed twice`}},
		{"weight_map escapes dir", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {"a": "../s1.safetensors"}}`)
		}, ErrInvalidIndex, []string{`"../s1.safetensors"`}},
		{"weight_map absolute", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, IndexFileName), `{"weight_map": {"a": "/etc/passwd"}}`)
		}, ErrInvalidIndex, []string{`"/etc/passwd"`}},
		{"missing shard", func(t *testing.T, dir string) {
			writeShard(t, dir, "s1.safetensors", "a", "b")
			writeText(t, filepath.Join(dir, IndexFileName), goodIndex)
		}, ErrMissingShard, []string{`shard "s2.safetensors"`, IndexFileName}},
		{"tensor absent from its shard", func(t *testing.T, dir string) {
			writeShard(t, dir, "s1.safetensors", "a", "b")
			writeShard(t, dir, "s2.safetensors", "c")
			writeText(t, filepath.Join(dir, IndexFileName), goodIndex)
		}, ErrTensorNotFound, []string{`tensor "d"`, "s2.safetensors", IndexFileName}},
		{"same tensor in two shards", func(t *testing.T, dir string) {
			writeShard(t, dir, "s1.safetensors", "a", "b", "c")
			writeShard(t, dir, "s2.safetensors", "c", "d")
			writeText(t, filepath.Join(dir, IndexFileName), goodIndex)
		}, ErrDuplicateTensor, []string{`tensor "c"`, "s1.safetensors", "s2.safetensors"}},
		{"same tensor in two globbed files", func(t *testing.T, dir string) {
			writeShard(t, dir, "x.safetensors", "a")
			writeShard(t, dir, "y.safetensors", "a")
		}, ErrDuplicateTensor, []string{`tensor "a"`}},
		{"corrupt shard", func(t *testing.T, dir string) {
			writeShard(t, dir, "s1.safetensors", "a", "b")
			writeText(t, filepath.Join(dir, "s2.safetensors"), "short")
			writeText(t, filepath.Join(dir, IndexFileName), goodIndex)
		}, ErrTruncated, []string{"s2.safetensors"}},
		{"corrupt single file", func(t *testing.T, dir string) {
			writeText(t, filepath.Join(dir, SingleFileName), "\x02\x00\x00\x00\x00\x00\x00\x00[]")
		}, ErrInvalidHeader, []string{SingleFileName}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			c, err := OpenDir(dir)
			if err == nil {
				c.Close()
				t.Fatalf("OpenDir succeeded, want %v", tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %v", err, tc.want)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestOpenDirMissingDir(t *testing.T) {
	_, err := OpenDir(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, ErrNoCheckpoint) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(filepath.Join(dir, "missing.safetensors"))
	if !errors.Is(err, ErrIO) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file: %v", err)
	}
	_, err = Open(dir)
	if !errors.Is(err, ErrIO) {
		t.Errorf("directory: %v", err)
	}
	for _, size := range []int{0, 3, 7} {
		p := filepath.Join(dir, "short.safetensors")
		writeText(t, p, strings.Repeat("x", size))
		if _, err := Open(p); !errors.Is(err, ErrTruncated) {
			t.Errorf("%d-byte file: %v", size, err)
		}
	}
	// A header length pointing past the end of a real file on disk.
	p := filepath.Join(dir, "trunc.safetensors")
	writeText(t, p, "\x40\x00\x00\x00\x00\x00\x00\x00{}")
	if _, err := Open(p); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), p) {
		t.Errorf("truncated header: %v", err)
	}
}

func TestNewCheckpoint(t *testing.T) {
	mk := func(name string, tensors ...string) *File {
		var ts []WriteTensor
		for _, n := range tensors {
			ts = append(ts, WriteTensor{Name: n, DType: BF16, Shape: []int{1}, Data: []byte{0, 0x3f}})
		}
		var b strings.Builder
		if err := Write(&b, ts, nil); err != nil {
			t.Fatal(err)
		}
		f, err := Parse(name, []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c, err := NewCheckpoint(mk("m/a", "x", "y"), mk("m/b", "z"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Names(), []string{"x", "y", "z"}) || c.Dir() != "m" {
		t.Fatalf("names %v dir %q", c.Names(), c.Dir())
	}
	_, err = c.Tensor("w")
	if !errors.Is(err, ErrTensorNotFound) || err.Error() != `safetensors: m: tensor "w": not in the checkpoint (3 tensors)` {
		t.Errorf("missing: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = NewCheckpoint(mk("a", "x", "y"), mk("b", "y"))
	if !errors.Is(err, ErrDuplicateTensor) || !strings.Contains(err.Error(), `tensor "y": present in both a and b`) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := NewCheckpoint(); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("no files: %v", err)
	}
}
