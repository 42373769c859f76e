package safetensors

// DType is a safetensors element type, spelled as in the file header
// ("F32", "BF16", ...).
type DType string

// The element types this package can view and convert.
const (
	F32  DType = "F32"  // IEEE 754 binary32
	F16  DType = "F16"  // IEEE 754 binary16
	BF16 DType = "BF16" // bfloat16: the top 16 bits of a binary32
)

// Element types that are recognised in headers (so files holding them parse)
// but that this package refuses to view or convert.
const (
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	I32    DType = "I32"
	U32    DType = "U32"
	I16    DType = "I16"
	U16    DType = "U16"
	I8     DType = "I8"
	U8     DType = "U8"
	Bool   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
	F8E8M0 DType = "F8_E8M0"
	C64    DType = "C64"
	F4     DType = "F4"
	F6E2M3 DType = "F6_E2M3"
	F6E3M2 DType = "F6_E3M2"
)

// dtypeBits maps every dtype known to the reference implementation to its
// width in bits.
var dtypeBits = map[DType]int{
	F64: 64, I64: 64, U64: 64, C64: 64,
	F32: 32, I32: 32, U32: 32,
	F16: 16, BF16: 16, I16: 16, U16: 16,
	I8: 8, U8: 8, Bool: 8, F8E4M3: 8, F8E5M2: 8, F8E8M0: 8,
	F6E2M3: 6, F6E3M2: 6, F4: 4,
}

// Bits returns the width of one element in bits, or 0 if d is unknown.
func (d DType) Bits() int { return dtypeBits[d] }

// Size returns the number of bytes per element, or 0 if d is unknown or is a
// sub-byte type (F4, F6_*), whose elements do not occupy whole bytes.
func (d DType) Size() int {
	b := dtypeBits[d]
	if b%8 != 0 {
		return 0
	}
	return b / 8
}

// Known reports whether d is a dtype the safetensors format defines.
func (d DType) Known() bool { return dtypeBits[d] != 0 }

// Supported reports whether this package can view and convert tensors of dtype
// d (F32, F16 and BF16).
func (d DType) Supported() bool { return d == F32 || d == F16 || d == BF16 }

// String returns the header spelling of d.
func (d DType) String() string { return string(d) }
