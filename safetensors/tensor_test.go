package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"unsafe"
)

// refF16 computes a binary16 value from first principles, in float64.
func refF16(h uint16) float64 {
	sign := 1.0
	if h>>15 == 1 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0x1f:
		if m == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	case 0:
		return sign * m / 1024 * math.Pow(2, -14)
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

func TestF16ToF32Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got, want := F16ToF32(h), refF16(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			// Payload and sign preserved.
			if b := math.Float32bits(got); b>>31 != uint32(h>>15) || (b>>13)&0x3ff != uint32(h&0x3ff) {
				t.Fatalf("%#04x: NaN bits %#08x", h, b)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h>>15 == 1) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestBF16ToF32(t *testing.T) {
	for _, c := range []struct {
		b    uint16
		want float32
	}{{0x3f80, 1}, {0xc000, -2}, {0x0000, 0}, {0x7f80, float32(math.Inf(1))}, {0x3e80, 0.25}} {
		if got := BF16ToF32(c.b); got != c.want {
			t.Errorf("%#04x: %v, want %v", c.b, got, c.want)
		}
	}
}

// tensorAt returns an F32 tensor of values 1..n whose Data starts at byte
// offset off (mod 8) of an 8-aligned buffer.
func tensorAt(dtype DType, n, off int) *Tensor {
	buf := make([]byte, off+n*4+8)
	for uintptr(unsafe.Pointer(&buf[0]))%8 != 0 { // make([]byte) is 8-aligned in practice
		buf = buf[1:]
	}
	data := buf[off:]
	size := dtype.Size()
	for i := range n {
		switch dtype {
		case F32:
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(i+1)))
		case BF16:
			binary.LittleEndian.PutUint16(data[2*i:], uint16(math.Float32bits(float32(i+1))>>16))
		case F16:
			binary.LittleEndian.PutUint16(data[2*i:], f16Of(i+1))
		}
	}
	return &Tensor{Name: "t", DType: dtype, Shape: []int{n}, File: "mem", Data: data[: n*size : n*size]}
}

// f16Of encodes a small positive integer as binary16.
func f16Of(v int) uint16 {
	e := 0
	for (1 << (e + 1)) <= v {
		e++
	}
	return uint16((e+15)<<10 | (v<<10>>e)&0x3ff)
}

func TestViews(t *testing.T) {
	for _, off := range []int{0, 1, 2, 3, 4} {
		tf := tensorAt(F32, 5, off)
		v, err := tf.F32()
		if err != nil {
			t.Fatal(err)
		}
		aliased := unsafe.Pointer(&v[0]) == unsafe.Pointer(&tf.Data[0])
		if aliased != (off%4 == 0) {
			t.Errorf("F32 at offset %d: aliased=%v", off, aliased)
		}
		if uintptr(unsafe.Pointer(&v[0]))%4 != 0 {
			t.Errorf("F32 at offset %d: result misaligned", off)
		}
		for i, x := range v {
			if x != float32(i+1) {
				t.Fatalf("F32 at offset %d: %v", off, v)
			}
		}
		c, _ := tf.ToF32()
		if &c[0] == &v[0] || c[4] != 5 {
			t.Errorf("ToF32 of F32 must copy: %v", c)
		}
		for _, d := range []DType{BF16, F16} {
			tb := tensorAt(d, 5, off)
			u, err := tb.U16()
			if err != nil {
				t.Fatal(err)
			}
			aliased := unsafe.Pointer(&u[0]) == unsafe.Pointer(&tb.Data[0])
			if aliased != (off%2 == 0) {
				t.Errorf("U16 %s at offset %d: aliased=%v", d, off, aliased)
			}
			f, err := tb.ToF32()
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range f {
				if x != float32(i+1) {
					t.Fatalf("ToF32 %s at offset %d: %v", d, off, f)
				}
			}
		}
	}
}

func TestViewErrors(t *testing.T) {
	bf := tensorAt(BF16, 3, 0)
	if _, err := bf.F32(); !errors.Is(err, ErrDTypeMismatch) || err.Error() != `safetensors: mem: tensor "t": F32() needs dtype F32, tensor is BF16` {
		t.Errorf("F32 of BF16: %v", err)
	}
	f := tensorAt(F32, 3, 0)
	if _, err := f.U16(); !errors.Is(err, ErrDTypeMismatch) {
		t.Errorf("U16 of F32: %v", err)
	}
	for _, d := range []DType{I64, U8, Bool, F8E4M3, F64, "F17"} {
		x := &Tensor{Name: "t", DType: d, Shape: []int{1}, Data: make([]byte, max(d.Size(), 1))}
		if _, err := x.ToF32(); !errors.Is(err, ErrUnsupportedDType) {
			t.Errorf("ToF32 of %s: %v", d, err)
		}
	}
	bad := &Tensor{Name: "t", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}
	for name, fn := range map[string]func() error{
		"F32":   func() error { _, err := bad.F32(); return err },
		"ToF32": func() error { _, err := bad.ToF32(); return err },
	} {
		if err := fn(); !errors.Is(err, ErrSizeMismatch) {
			t.Errorf("%s of inconsistent tensor: %v", name, err)
		}
	}
	empty := &Tensor{Name: "e", DType: F32, Shape: []int{0, 4}}
	if v, err := empty.F32(); err != nil || len(v) != 0 {
		t.Errorf("empty F32: %v %v", v, err)
	}
}

func TestDTypeSizes(t *testing.T) {
	for d, want := range map[DType]int{F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, Bool: 1, F8E4M3: 1, F8E5M2: 1, F4: 0, "F17": 0} {
		if got := d.Size(); got != want {
			t.Errorf("%s.Size() = %d, want %d", d, got, want)
		}
	}
	if F4.Bits() != 4 || !F4.Known() || F4.Supported() || DType("x").Known() {
		t.Error("Bits/Known/Supported")
	}
}
