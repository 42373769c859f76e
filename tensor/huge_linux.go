//go:build linux

package tensor

import (
	"syscall"
	"unsafe"
)

// madvHugepage is MADV_HUGEPAGE.
const madvHugepage = 14

// adviseHuge marks the whole 2 MiB pages inside s for transparent huge
// pages. It is advice: errors (THP disabled, old kernels) are ignored.
func adviseHuge(s []float32) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	end := start + uintptr(len(s))*4
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := end &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	i, j := (lo-start)/4, (hi-start)/4
	b := unsafe.Slice((*byte)(unsafe.Pointer(&s[i])), (j-i)*4)
	_ = syscall.Madvise(b, madvHugepage)
}
