//go:build !linux

package asm

import "time"

var t0 = time.Now()

func threadTime() float64 { return time.Since(t0).Seconds() }
