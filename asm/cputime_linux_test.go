package asm

import (
	"syscall"
	"unsafe"
)

// threadTime returns the calling thread's CPU time in seconds (the caller
// must be locked to its OS thread): time not spent running is not counted,
// which removes most of the noise of a machine shared with other work.
func threadTime() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3 /* CLOCK_THREAD_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}
