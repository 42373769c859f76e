package latent

import "unsafe"

// unsafeBytesF32 views a float32 slice as bytes (for hashing, no copy).
func unsafeBytesF32(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// unsafeBytesU16 views a uint16 slice as bytes (for hashing, no copy).
func unsafeBytesU16(v []uint16) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 2*len(v))
}
