package safetensors

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package is an *Error that wraps
// exactly one of these (and possibly an underlying cause such as an
// *fs.PathError), so callers can test for a specific problem with errors.Is.
var (
	// ErrTruncated: the file is shorter than 8 bytes, or ends before the end
	// of the header its length prefix declares.
	ErrTruncated = errors.New("safetensors: truncated file")
	// ErrHeaderTooLarge: the declared header length exceeds MaxHeaderSize.
	ErrHeaderTooLarge = errors.New("safetensors: header too large")
	// ErrInvalidHeader: the header is not valid UTF-8 JSON of the expected
	// shape (wrong JSON types, missing or repeated fields, negative or
	// non-integer numbers, trailing bytes other than whitespace, ...).
	ErrInvalidHeader = errors.New("safetensors: invalid header")
	// ErrUnknownDType: a tensor's dtype string is not one the format defines.
	ErrUnknownDType = errors.New("safetensors: unknown dtype")
	// ErrInvalidOffsets: a tensor's data_offsets have begin > end.
	ErrInvalidOffsets = errors.New("safetensors: invalid data offsets")
	// ErrOffsetOutOfRange: a tensor's data_offsets reach past the end of the
	// data buffer.
	ErrOffsetOutOfRange = errors.New("safetensors: data offsets out of range")
	// ErrSizeMismatch: the byte size given by data_offsets differs from
	// dtype size × product(shape), or that product overflows.
	ErrSizeMismatch = errors.New("safetensors: tensor size mismatch")
	// ErrOverlap: two tensors' byte ranges overlap.
	ErrOverlap = errors.New("safetensors: overlapping tensors")
	// ErrDuplicateTensor: a tensor name occurs twice in one header, or in two
	// files of one checkpoint.
	ErrDuplicateTensor = errors.New("safetensors: duplicate tensor")
	// ErrTensorNotFound: a requested tensor is absent, or a tensor the index's
	// weight_map assigns to a shard is absent from that shard.
	ErrTensorNotFound = errors.New("safetensors: tensor not found")
	// ErrDTypeMismatch: a typed view (F32, U16) was asked of a tensor of
	// another dtype.
	ErrDTypeMismatch = errors.New("safetensors: dtype mismatch")
	// ErrUnsupportedDType: a conversion was asked of a dtype this package
	// knows but does not convert (anything but F32, F16, BF16).
	ErrUnsupportedDType = errors.New("safetensors: unsupported dtype")
	// ErrInvalidIndex: model.safetensors.index.json is not valid.
	ErrInvalidIndex = errors.New("safetensors: invalid shard index")
	// ErrMissingShard: a shard named by the index does not exist.
	ErrMissingShard = errors.New("safetensors: missing shard")
	// ErrNoCheckpoint: a directory holds no safetensors checkpoint.
	ErrNoCheckpoint = errors.New("safetensors: no checkpoint")
	// ErrInvalidTensor: a tensor passed to Write is inconsistent (empty or
	// reserved name, unknown dtype, data length not matching dtype and shape).
	ErrInvalidTensor = errors.New("safetensors: invalid tensor")
	// ErrIO: a file could not be opened, read or mapped (the cause is wrapped,
	// so errors.Is(err, fs.ErrNotExist) works too).
	ErrIO = errors.New("safetensors: I/O error")
)

// Error is the error type returned by this package.
type Error struct {
	// File is the file (or checkpoint directory, or index file) at fault.
	File string
	// Tensor is the tensor concerned, or "" when the problem is not about one
	// tensor.
	Tensor string
	// Kind is one of the Err* sentinels.
	Kind error
	// Detail describes the problem for people.
	Detail string
	// Err is the underlying cause (an I/O or JSON error), or nil.
	Err error
}

// Error formats the error as
// "safetensors: FILE: tensor "NAME": DETAIL: CAUSE", leaving out the parts
// that are empty.
func (e *Error) Error() string {
	s := "safetensors: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Tensor != "" {
		s += fmt.Sprintf("tensor %q: ", e.Tensor)
	}
	s += e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and, when there is one, the underlying cause, so
// that errors.Is and errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func newErr(file, tensor string, kind error, format string, args ...any) *Error {
	return &Error{File: file, Tensor: tensor, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func wrapErr(file, tensor string, kind, cause error, format string, args ...any) *Error {
	return &Error{File: file, Tensor: tensor, Kind: kind, Detail: fmt.Sprintf(format, args...), Err: cause}
}
