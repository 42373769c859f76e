package safetensors

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Tensor is one tensor of a parsed file: its header entry and its bytes.
type Tensor struct {
	Name  string // name in the header
	DType DType  // element type
	Shape []int  // dimensions, outermost first; empty for a scalar
	File  string // path of the file it came from (for error messages)
	Data  []byte // exactly the tensor's bytes, little-endian; a view into the file
}

// NumElements returns the product of Shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// littleEndian reports whether the host stores integers little-endian, as
// safetensors does; only then may data be reinterpreted without conversion.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// check verifies that t has dtype want and that len(Data) matches its shape
// (which Parse guarantees, but a hand-built Tensor may not).
func (t *Tensor) check(want DType, view string) error {
	if t.DType != want {
		return newErr(t.File, t.Name, ErrDTypeMismatch, "%s needs dtype %s, tensor is %s", view, want, t.DType)
	}
	return t.checkSize()
}

func (t *Tensor) checkSize() error {
	need, why := byteSize(t.DType, t.Shape)
	if why != "" {
		return newErr(t.File, t.Name, ErrSizeMismatch, "the size of %s %v %s", t.DType, t.Shape, why)
	}
	if need != uint64(len(t.Data)) {
		return newErr(t.File, t.Name, ErrSizeMismatch, "holds %d bytes but %s %v needs %d", len(t.Data), t.DType, t.Shape, need)
	}
	return nil
}

// F32 returns the elements of an F32 tensor. When Data is 4-byte aligned (the
// usual case) the result aliases Data, with its lifetime and read-only rule;
// otherwise it is an aligned copy. It is an error if the dtype is not F32.
func (t *Tensor) F32() ([]float32, error) {
	if err := t.check(F32, "F32()"); err != nil {
		return nil, err
	}
	n := len(t.Data) / 4
	if n == 0 {
		return []float32{}, nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// U16 returns the raw 16-bit patterns of a BF16 or F16 tensor. When Data is
// 2-byte aligned the result aliases Data, with its lifetime and read-only rule;
// otherwise it is an aligned copy. It is an error for any other dtype.
func (t *Tensor) U16() ([]uint16, error) {
	if t.DType != BF16 && t.DType != F16 {
		return nil, newErr(t.File, t.Name, ErrDTypeMismatch, "U16() needs dtype BF16 or F16, tensor is %s", t.DType)
	}
	if err := t.checkSize(); err != nil {
		return nil, err
	}
	n := len(t.Data) / 2
	if n == 0 {
		return []uint16{}, nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&t.Data[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out, nil
}

// ToF32 converts an F32, BF16 or F16 tensor to a newly allocated []float32
// (never aliasing Data). It is meant for small tensors (norm weights, biases);
// large weights should stay in their stored dtype. Other dtypes are refused
// with ErrUnsupportedDType.
func (t *Tensor) ToF32() ([]float32, error) {
	if !t.DType.Supported() {
		what := "unknown"
		if t.DType.Known() {
			what = "known but not convertible"
		}
		return nil, newErr(t.File, t.Name, ErrUnsupportedDType, "ToF32() converts F32, BF16 and F16; dtype %s is %s", t.DType, what)
	}
	if err := t.checkSize(); err != nil {
		return nil, err
	}
	d := t.Data
	switch t.DType {
	case F32:
		out := make([]float32, len(d)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
		return out, nil
	default: // F16
		out := make([]float32, len(d)/2)
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
		return out, nil
	}
}

// BF16ToF32 widens a bfloat16 bit pattern to float32 (exactly).
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F16ToF32 widens an IEEE 754 binary16 bit pattern to float32 (exactly,
// including subnormals, infinities and NaN payloads).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant × 2^-24. Normalise so the leading 1 is implicit.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}
