package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func randomTensors(r *rand.Rand) []WriteTensor {
	dtypes := []DType{F32, F16, BF16, U8, I64, Bool, F8E4M3, F4}
	var ts []WriteTensor
	for i := range 12 {
		d := dtypes[r.IntN(len(dtypes))]
		shape := make([]int, r.IntN(4))
		for j := range shape {
			shape[j] = r.IntN(5)
		}
		if d == F4 {
			shape = append(shape, 2) // keep sub-byte tensors whole bytes
		}
		n, _ := byteSize(d, shape)
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		ts = append(ts, WriteTensor{Name: strings.Repeat("t", i%3) + string(rune('a'+i)) + "<é\"\\>", DType: d, Shape: shape, Data: data})
	}
	return ts
}

func checkSame(t *testing.T, f *File, ts []WriteTensor) {
	t.Helper()
	if f.Len() != len(ts) {
		t.Fatalf("%d tensors, want %d", f.Len(), len(ts))
	}
	for _, w := range ts {
		g, ok := f.Tensor(w.Name)
		if !ok {
			t.Fatalf("tensor %q missing", w.Name)
		}
		shape := w.Shape
		if shape == nil {
			shape = []int{}
		}
		if g.DType != w.DType || !reflect.DeepEqual(g.Shape, shape) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("tensor %q: got %s %v %x, want %s %v %x", w.Name, g.DType, g.Shape, g.Data, w.DType, shape, w.Data)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	meta := map[string]string{"format": "pt", "weird key \"\n": "välue <&>", "ctl\x01\x1f\\": "\t/"}
	for iter := range 20 {
		ts := randomTensors(r)
		var buf bytes.Buffer
		if err := Write(&buf, ts, meta); err != nil {
			t.Fatal(err)
		}
		raw := buf.Bytes()
		n := binary.LittleEndian.Uint64(raw)
		if n%8 != 0 {
			t.Fatalf("header length %d not a multiple of 8", n)
		}
		// Data follows the header back to back, in the given order.
		off := 8 + int(n)
		for _, w := range ts {
			if !bytes.Equal(raw[off:off+len(w.Data)], w.Data) {
				t.Fatalf("iter %d: %q not at offset %d", iter, w.Name, off)
			}
			off += len(w.Data)
		}
		if off != len(raw) {
			t.Fatalf("file is %d bytes, data ends at %d", len(raw), off)
		}
		f, err := Parse("mem", raw)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, f, ts)
		if !reflect.DeepEqual(f.Metadata(), meta) {
			t.Fatalf("metadata %v", f.Metadata())
		}
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	ts := randomTensors(rand.New(rand.NewPCG(3, 4)))
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, f, ts)
	if len(f.Metadata()) != 0 {
		t.Errorf("metadata %v", f.Metadata())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, ok := f.Tensor(ts[0].Name); ok {
		t.Error("tensor still reachable after Close")
	}
}

func TestWriteHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, []WriteTensor{{Name: "w", DType: BF16, Shape: []int{2, 1}, Data: []byte{1, 2, 3, 4}}}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]}}`
	hdr += strings.Repeat(" ", (8-len(hdr)%8)%8)
	want := append(rawFile(hdr, nil), 1, 2, 3, 4)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got  %q\nwant %q", buf.Bytes(), want)
	}
}

func TestWriteErrors(t *testing.T) {
	ok := WriteTensor{Name: "a", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}
	cases := []struct {
		name    string
		tensors []WriteTensor
		want    error
	}{
		{"empty name", []WriteTensor{{DType: F32, Shape: []int{1}, Data: make([]byte, 4)}}, ErrInvalidTensor},
		{"reserved name", []WriteTensor{{Name: "__metadata__", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}}, ErrInvalidTensor},
		{"invalid UTF-8 name", []WriteTensor{{Name: "\xff", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}}, ErrInvalidTensor},
		{"duplicate", []WriteTensor{ok, ok}, ErrDuplicateTensor},
		{"unknown dtype", []WriteTensor{{Name: "a", DType: "F17", Shape: []int{1}, Data: make([]byte, 4)}}, ErrUnknownDType},
		{"negative dim", []WriteTensor{{Name: "a", DType: F32, Shape: []int{-1}}}, ErrInvalidTensor},
		{"short data", []WriteTensor{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, ErrSizeMismatch},
		{"sub-byte", []WriteTensor{{Name: "a", DType: F4, Shape: []int{3}, Data: make([]byte, 2)}}, ErrSizeMismatch},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		err := Write(&buf, tc.tensors, nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", tc.name, buf.Len())
		}
		path := filepath.Join(t.TempDir(), "x.safetensors")
		if err := WriteFile(path, tc.tensors, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: WriteFile got %v", tc.name, err)
		}
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(m) != 0 {
			t.Errorf("%s: WriteFile left %v", tc.name, m)
		}
	}
}
