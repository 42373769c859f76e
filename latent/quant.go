package latent

// Latent quantisation "sieve" (REFERENCE §2.7, QST's --quant_bits): each
// realigned latent is quantised to b bits per value with one per-tensor
// min–max uniform grid and dequantised before it is fed.

import (
	"fmt"
	"math"
)

// QuantizeMinMax quantises x to bits bits per value and dequantises it, in
// place: lo = min x, hi = max x, scale = (hi − lo)/(2^bits − 1),
// q = round((x − lo)/scale) (half to even, as torch.round), x̂ = q·scale + lo,
// all in float32. bits ≥ 16 leaves x unchanged, as the reference does.
//
// Deviations from the reference, both for inputs where it breaks: when
// max == min (a constant vector, §6 Q3) the reference divides by zero and
// feeds NaN; here x is left unchanged, which is exactly representable on
// any grid. When x holds NaN or ±Inf there is no grid, and x is also left
// unchanged. The reference quantises the whole [B, D] batch tensor with one
// grid; Rollout calls this per sequence, so results do not depend on the
// batch (DESIGN.md).
//
// It panics if bits < 1.
func QuantizeMinMax(x []float32, bits int) {
	if bits < 1 {
		panic(fmt.Sprintf("latent: quantize: bits must be ≥ 1, got %d", bits))
	}
	if bits >= 16 || len(x) == 0 {
		return
	}
	lo, hi := x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo || isNonFinite(lo) || isNonFinite(hi) || isNonFinite(hi-lo) {
		return
	}
	levels := float32(int(1)<<bits - 1)
	scale := (hi - lo) / levels
	for i, v := range x {
		q := float32(math.RoundToEven(float64((v - lo) / scale)))
		q = min(max(q, 0), levels)
		x[i] = float32(q*scale) + lo // explicit rounding: no fused multiply-add
	}
}

// isNonFinite reports NaN or ±Inf (min/max propagate NaN).
func isNonFinite(v float32) bool {
	f := float64(v)
	return math.IsNaN(f) || math.IsInf(f, 0)
}

// QuantBytes is the payload of n values at bits bits each, ⌈n·bits/8⌉
// bytes, for bandwidth accounting. bits = 16 is the reference's baseline
// (a bf16 latent), so QuantBytes(n, b)/QuantBytes(n, 16) = b/16 is its
// transmitted/raw ratio. Like the reference it does not count the two
// float side values (lo, scale) a receiver would need. It panics if n < 0
// or bits < 1.
func QuantBytes(n, bits int) int64 {
	if n < 0 || bits < 1 {
		panic(fmt.Sprintf("latent: quant bytes: n = %d, bits = %d", n, bits))
	}
	return (int64(n)*int64(bits) + 7) / 8
}

// Quantizer returns the Rollout.Quantize hook for --quant_bits: nil (no
// quantisation) for bits ≥ 16, else QuantizeMinMax at that width. Widths
// outside 1…16 are an error; the reference offers 2, 4, 8 and 16.
func Quantizer(bits int) (func([]float32), error) {
	switch {
	case bits < 1 || bits > 16:
		return nil, fmt.Errorf("latent: quant_bits must be in 1…16, got %d", bits)
	case bits == 16:
		return nil, nil
	}
	return func(x []float32) { QuantizeMinMax(x, bits) }, nil
}
