package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
	"unicode/utf8"
)

// MaxHeaderSize is the largest header length accepted, in bytes (the limit of
// the reference implementation).
const MaxHeaderSize = 100_000_000

// MaxRank is the largest number of dimensions accepted in a tensor's shape. The
// reference implementation has no limit; this one keeps a hostile header from
// turning into a huge allocation.
const MaxRank = 255

// metadataKey is the reserved header key holding the free-form string map.
const metadataKey = "__metadata__"

// tensorInfo is one header entry before it becomes a Tensor.
type tensorInfo struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64
}

// Parse validates data as a complete safetensors file and returns a File whose
// tensors are views into data (nothing is copied, so data must stay unmodified
// while the File is in use). name is used in error messages and as Tensor.File.
// Close on the result releases nothing (data belongs to the caller).
func Parse(name string, data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, newErr(name, "", ErrTruncated, "file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderSize {
		return nil, newErr(name, "", ErrHeaderTooLarge, "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, newErr(name, "", ErrTruncated, "header length %d extends beyond the end of the %d-byte file", n, len(data))
	}
	hdrEnd := 8 + int(n)
	meta, infos, err := parseHeader(name, data[8:hdrEnd])
	if err != nil {
		return nil, err
	}
	buf := data[hdrEnd:]
	if err := validate(name, infos, uint64(len(buf))); err != nil {
		return nil, err
	}
	f := &File{
		path:     name,
		data:     data,
		tensors:  make(map[string]*Tensor, len(infos)),
		names:    make([]string, 0, len(infos)),
		metadata: meta,
	}
	for i := range infos {
		ti := &infos[i]
		f.tensors[ti.name] = &Tensor{
			Name:  ti.name,
			DType: ti.dtype,
			Shape: ti.shape,
			File:  name,
			Data:  buf[ti.begin:ti.end:ti.end],
		}
		f.names = append(f.names, ti.name)
	}
	sort.Strings(f.names)
	return f, nil
}

// validate checks every tensor's offsets and size against the data buffer
// length, then that no two non-empty tensors overlap.
func validate(file string, infos []tensorInfo, bufLen uint64) error {
	for i := range infos {
		ti := &infos[i]
		if ti.begin > ti.end {
			return newErr(file, ti.name, ErrInvalidOffsets, "data_offsets [%d, %d]: begin is after end", ti.begin, ti.end)
		}
		if ti.end > bufLen {
			return newErr(file, ti.name, ErrOffsetOutOfRange, "data_offsets [%d, %d] reach past the end of the %d-byte data buffer", ti.begin, ti.end, bufLen)
		}
		need, why := byteSize(ti.dtype, ti.shape)
		if why != "" {
			return newErr(file, ti.name, ErrSizeMismatch, "data_offsets [%d, %d] hold %d bytes but the size of %s %v %s", ti.begin, ti.end, ti.end-ti.begin, ti.dtype, ti.shape, why)
		}
		if have := ti.end - ti.begin; have != need {
			return newErr(file, ti.name, ErrSizeMismatch, "data_offsets [%d, %d] hold %d bytes but %s %v needs %d", ti.begin, ti.end, have, ti.dtype, ti.shape, need)
		}
	}
	// Overlaps: sort the non-empty ranges by start. If any two overlap, then
	// some adjacent pair does (whatever lies between them starts inside the
	// first), so checking neighbours suffices.
	idx := make([]int, 0, len(infos))
	for i := range infos {
		if infos[i].end > infos[i].begin {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := &infos[idx[a]], &infos[idx[b]]
		if x.begin != y.begin {
			return x.begin < y.begin
		}
		if x.end != y.end {
			return x.end < y.end
		}
		return x.name < y.name
	})
	for k := 1; k < len(idx); k++ {
		prev, cur := &infos[idx[k-1]], &infos[idx[k]]
		if cur.begin < prev.end {
			return newErr(file, cur.name, ErrOverlap, "data_offsets [%d, %d] overlap tensor %q at [%d, %d]", cur.begin, cur.end, prev.name, prev.begin, prev.end)
		}
	}
	return nil
}

// byteSize returns dtype-bits × product(shape) / 8. When that cannot be
// computed it returns a reason instead: the product overflows 64 bits, a
// dimension is negative, or the total is not a whole number of bytes.
func byteSize(d DType, shape []int) (uint64, string) {
	n := uint64(1)
	for _, dim := range shape {
		if dim < 0 {
			return 0, "has a negative dimension"
		}
		hi, lo := bits.Mul64(n, uint64(dim))
		if hi != 0 {
			return 0, "overflows 64 bits"
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, uint64(d.Bits()))
	switch {
	case hi != 0:
		return 0, "overflows 64 bits"
	case nbits%8 != 0:
		return 0, "is not a whole number of bytes"
	}
	return nbits / 8, ""
}

// headerParser parses the header JSON with the strict scanner, checking each
// field's JSON type and refusing duplicate keys.
type headerParser struct {
	file string
	s    scanner
}

func (p *headerParser) fail(tensor string, format string, args ...any) error {
	return newErr(p.file, tensor, ErrInvalidHeader, format, args...)
}

// syntax wraps a scanner error.
func (p *headerParser) syntax(tensor string, err error) error {
	return wrapErr(p.file, tensor, ErrInvalidHeader, err, "malformed JSON")
}

// parseHeader parses the JSON header hdr into its metadata and tensor entries.
func parseHeader(file string, hdr []byte) (map[string]string, []tensorInfo, error) {
	p := &headerParser{file: file, s: scanner{b: hdr}}
	if !utf8.Valid(hdr) {
		return nil, nil, p.fail("", "header is not valid UTF-8")
	}
	if p.s.peek() != '{' {
		return nil, nil, p.fail("", "header must be a JSON object, got %s", p.s.kind())
	}
	p.s.i++
	var (
		meta    map[string]string
		hasMeta bool
		infos   []tensorInfo
		seen    = map[string]struct{}{}
	)
	for first := true; ; first = false {
		more, err := p.s.next(first, '}')
		if err != nil {
			return nil, nil, p.syntax("", err)
		}
		if !more {
			p.s.i++
			break
		}
		key, err := p.s.str()
		if err == nil {
			err = p.s.eat(':')
		}
		if err != nil {
			return nil, nil, p.syntax("", err)
		}
		if key == metadataKey {
			if hasMeta {
				return nil, nil, p.fail("", "duplicate %q key", metadataKey)
			}
			hasMeta = true
			if meta, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if _, dup := seen[key]; dup {
			return nil, nil, newErr(file, key, ErrDuplicateTensor, "appears more than once in the header")
		}
		seen[key] = struct{}{}
		ti, err := p.tensor(key)
		if err != nil {
			return nil, nil, err
		}
		infos = append(infos, ti)
	}
	// Only JSON whitespace (the writer's space padding) may follow.
	if c := p.s.peek(); c != 0 || p.s.i != len(hdr) {
		return nil, nil, p.fail("", "unexpected byte %q at header offset %d after the JSON object", hdr[p.s.i], p.s.i)
	}
	return meta, infos, nil
}

// metadata parses the value of "__metadata__": null or an object of strings.
func (p *headerParser) metadata() (map[string]string, error) {
	if p.s.peek() == 'n' {
		if err := p.s.literal("null"); err != nil {
			return nil, p.syntax("", err)
		}
		return nil, nil
	}
	if p.s.peek() != '{' {
		return nil, p.fail("", "%s must be an object of strings, got %s", metadataKey, p.s.kind())
	}
	p.s.i++
	meta := map[string]string{}
	for first := true; ; first = false {
		more, err := p.s.next(first, '}')
		if err != nil {
			return nil, p.syntax("", err)
		}
		if !more {
			p.s.i++
			return meta, nil
		}
		key, err := p.s.str()
		if err == nil {
			err = p.s.eat(':')
		}
		if err != nil {
			return nil, p.syntax("", err)
		}
		if _, dup := meta[key]; dup {
			return nil, p.fail("", "%s: duplicate key %q", metadataKey, key)
		}
		if p.s.peek() != '"' {
			return nil, p.fail("", "%s: value of %q must be a string, got %s", metadataKey, key, p.s.kind())
		}
		val, err := p.s.str()
		if err != nil {
			return nil, p.syntax("", err)
		}
		meta[key] = val
	}
}

// tensor parses one tensor entry {"dtype", "shape", "data_offsets"}. Unknown
// fields are skipped, as the reference implementation does.
func (p *headerParser) tensor(name string) (tensorInfo, error) {
	ti := tensorInfo{name: name}
	if p.s.peek() != '{' {
		return ti, p.fail(name, "entry must be an object, got %s", p.s.kind())
	}
	p.s.i++
	var hasDType, hasShape, hasOffsets bool
	for first := true; ; first = false {
		more, err := p.s.next(first, '}')
		if err != nil {
			return ti, p.syntax(name, err)
		}
		if !more {
			p.s.i++
			break
		}
		field, err := p.s.str()
		if err == nil {
			err = p.s.eat(':')
		}
		if err != nil {
			return ti, p.syntax(name, err)
		}
		switch field {
		case "dtype":
			if hasDType {
				return ti, p.fail(name, "duplicate field \"dtype\"")
			}
			hasDType = true
			if p.s.peek() != '"' {
				return ti, p.fail(name, "field \"dtype\" must be a string, got %s", p.s.kind())
			}
			s, err := p.s.str()
			if err != nil {
				return ti, p.syntax(name, err)
			}
			ti.dtype = DType(s)
			if !ti.dtype.Known() {
				return ti, newErr(p.file, name, ErrUnknownDType, "unknown dtype %q", s)
			}
		case "shape":
			if hasShape {
				return ti, p.fail(name, "duplicate field \"shape\"")
			}
			hasShape = true
			dims, err := p.uintList(name, "shape", -1)
			if err != nil {
				return ti, err
			}
			ti.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return ti, p.fail(name, "field \"shape\": dimension %d is too large", d)
				}
				ti.shape[i] = int(d)
			}
		case "data_offsets":
			if hasOffsets {
				return ti, p.fail(name, "duplicate field \"data_offsets\"")
			}
			hasOffsets = true
			offs, err := p.uintList(name, "data_offsets", 2)
			if err != nil {
				return ti, err
			}
			ti.begin, ti.end = offs[0], offs[1]
		default:
			if err := p.s.skip(0); err != nil {
				return ti, wrapErr(p.file, name, ErrInvalidHeader, err, "malformed JSON in field %q", field)
			}
		}
	}
	switch {
	case !hasDType:
		return ti, p.fail(name, "missing field \"dtype\"")
	case !hasShape:
		return ti, p.fail(name, "missing field \"shape\"")
	case !hasOffsets:
		return ti, p.fail(name, "missing field \"data_offsets\"")
	}
	return ti, nil
}

// uintList parses a JSON list of non-negative integers; want >= 0 demands
// exactly that many elements.
func (p *headerParser) uintList(tensor, field string, want int) ([]uint64, error) {
	what := "a list of non-negative integers"
	if want >= 0 {
		what = fmt.Sprintf("a list of %d non-negative integers", want)
	}
	if p.s.peek() != '[' {
		return nil, p.fail(tensor, "field %q must be %s, got %s", field, what, p.s.kind())
	}
	p.s.i++
	var out []uint64
	for first := true; ; first = false {
		more, err := p.s.next(first, ']')
		if err != nil {
			return nil, p.syntax(tensor, err)
		}
		if !more {
			p.s.i++
			break
		}
		if c := p.s.peek(); c != '-' && (c < '0' || c > '9') {
			return nil, p.fail(tensor, "field %q must be %s, got %s in it", field, what, p.s.kind())
		}
		num, err := p.s.number()
		if err != nil {
			return nil, p.syntax(tensor, err)
		}
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, p.fail(tensor, "field %q: %s does not fit in 64 bits", field, num)
			}
			return nil, p.fail(tensor, "field %q must be %s, got %s in it", field, what, num)
		}
		if want >= 0 && len(out) == want {
			return nil, p.fail(tensor, "field %q must be %s, got more", field, what)
		}
		if len(out) == MaxRank {
			return nil, p.fail(tensor, "field %q has more than %d elements", field, MaxRank)
		}
		out = append(out, v)
	}
	if want >= 0 && len(out) != want {
		return nil, p.fail(tensor, "field %q must be %s, got %d", field, what, len(out))
	}
	return out, nil
}
