package asm

import (
	"math"

	"github.com/x448/float16"
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

// MatMulNNF32Generic is the reference for MatMulNNF32.
func MatMulNNF32Generic(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
	for t := 0; t < m; t++ {
		yr := y[t*ldy : t*ldy+n]
		clear(yr)
		for k := 0; k < kk; k++ {
			AxpyF32Generic(x[t*ldx+k], w[k*ldw:k*ldw+n], yr)
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

// MatMulBF16BF16Generic is the reference for MatMulBF16BF16: each product
// of two bfloat16 values is exact in float32 and summed in k order.
func MatMulBF16BF16Generic(y []float32, ldy int, x []uint16, ldx int, w []uint16, ldw int, m, n, kk int) {
	for t := 0; t < m; t++ {
		xr := x[t*ldx : t*ldx+kk]
		for r := 0; r < n; r++ {
			wr := w[r*ldw : r*ldw+kk]
			var s float32
			for k, v := range xr {
				s += float32(BF16ToF32(v) * BF16ToF32(wr[k]))
			}
			y[t*ldy+r] = s
		}
	}
}

// F32ToBF16Generic is the reference for F32ToBF16.
func F32ToBF16Generic(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		b := math.Float32bits(f)
		if b&0x7fffffff > 0x7f800000 {
			dst[i] = uint16(b>>16) | 0x40
			continue
		}
		dst[i] = uint16((b + 0x7fff + (b>>16)&1) >> 16)
	}
}

// exp32 is the float32 reference exponential (correctly rounded float64
// exp rounded to float32).
func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

// rmsScale returns 1/sqrt(ss/n + eps) in float32, shared by every level.
func rmsScale(ss float32, n int, eps float32) float32 {
	return float32(1 / math.Sqrt(float64(ss/float32(n)+eps)))
}

// RMSNormF32Generic is the reference for RMSNormF32.
func RMSNormF32Generic(dst, x, w []float32, eps float32) {
	n := len(x)
	if n == 0 {
		return
	}
	dst, w = dst[:n], w[:n]
	var ss float32
	for _, v := range x {
		ss += float32(v * v)
	}
	r := rmsScale(ss, n, eps)
	for i, v := range x {
		dst[i] = w[i] * float32(v*r)
	}
}

// SiLUMulF32Generic is the reference for SiLUMulF32.
func SiLUMulF32Generic(dst, gate, up []float32) {
	n := len(gate)
	dst, up = dst[:n], up[:n]
	for i, g := range gate {
		dst[i] = float32(g/(1+exp32(-g))) * up[i]
	}
}

// SoftmaxF32Generic is the reference for SoftmaxF32.
func SoftmaxF32Generic(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var s float32
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		s += e
	}
	ScaleF32Generic(1/s, x)
}

// ScaleF32Generic is the reference for ScaleF32.
func ScaleF32Generic(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// AddF32Generic is the reference for AddF32.
func AddF32Generic(dst, a, b []float32) {
	n := len(a)
	dst, b = dst[:n], b[:n]
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// RoPEF32Generic is the reference for RoPEF32.
func RoPEF32Generic(x, cos, sin []float32) {
	h := len(x) / 2
	cos, sin = cos[:h], sin[:h]
	x1, x2 := x[:h], x[h:2*h]
	for i := range x1 {
		a, b := x1[i], x2[i]
		x1[i] = float32(a*cos[i]) - float32(b*sin[i])
		x2[i] = float32(b*cos[i]) + float32(a*sin[i])
	}
}
