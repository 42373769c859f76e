package asm

import (
	"math"

	"github.com/x448/float16"
)

var (
	dotF32     = DotF32Generic
	axpyF32    = AxpyF32Generic
	matMulF32  = MatMulF32Generic
	matMulBF16 = MatMulBF16Generic
	matMulF16  = MatMulF16Generic
	dispatch   = "generic"
)

// BF16ToF32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F16ToF32 widens an IEEE binary16 bit pattern to float32 (exact).
func F16ToF32(h uint16) float32 { return float16.Frombits(h).Float32() }

// DotF32Generic is the reference for DotF32.
func DotF32Generic(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// AxpyF32Generic is the reference for AxpyF32.
func AxpyF32Generic(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// MatMulF32Generic is the reference for MatMulF32.
func MatMulF32Generic(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
	for t := 0; t < m; t++ {
		xr := x[t*ldx : t*ldx+kk]
		for r := 0; r < n; r++ {
			y[t*ldy+r] = DotF32Generic(xr, w[r*ldw:r*ldw+kk])
		}
	}
}

// MatMulBF16Generic is the reference for MatMulBF16.
func MatMulBF16Generic(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	for t := 0; t < m; t++ {
		xr := x[t*ldx : t*ldx+kk]
		for r := 0; r < n; r++ {
			wr := w[r*ldw : r*ldw+kk]
			var s float32
			for k, v := range xr {
				s += v * BF16ToF32(wr[k])
			}
			y[t*ldy+r] = s
		}
	}
}

// MatMulF16Generic is the reference for MatMulF16.
func MatMulF16Generic(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	for t := 0; t < m; t++ {
		xr := x[t*ldx : t*ldx+kk]
		for r := 0; r < n; r++ {
			wr := w[r*ldw : r*ldw+kk]
			var s float32
			for k, v := range xr {
				s += v * F16ToF32(wr[k])
			}
			y[t*ldy+r] = s
		}
	}
}
