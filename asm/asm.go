// Package asm holds the numeric kernels that dominate inference time: dot
// products, axpy and the matrix-times-activations product over weights in
// their stored dtype (float32, bfloat16, float16). Each kernel has a pure-Go
// reference (the *Generic functions) that the SIMD versions are tested
// against; the exported names dispatch to the fastest implementation the CPU
// supports, chosen once at start-up.
//
// asm knows nothing about models or tensors: every contract is stated in
// terms of slices, lengths and leading dimensions. It imports nothing above
// the standard library and CPU feature detection.
//
// # Dispatch
//
// The level is chosen once at start-up from the CPU features
// (klauspost/cpuid): "avx512bf16" (AVX-512F/VL plus AVX512_BF16), "avx512",
// "avx2" (AVX2+FMA+F16C), "neon" (arm64) or "generic" (pure Go; forced by
// the purego build tag). The environment variable LATENTMAS_CPU
// (generic|avx2|avx512|avx512bf16) caps the level, for testing. Levels and
// SetLevel let tests run every level against the references.
//
// # Summation order of the matrix products
//
// A SIMD level computes every output element of MatMul* in one fixed order
// that depends only on kk (never on m, n, the tile or the row's position):
// with L float32 lanes (16 for AVX-512, 8 for AVX2, 4 for NEON), lane l
// accumulates x[k]*w[k] for k ≡ l (mod L), k < kk - kk%L, in increasing k
// with fused multiply-adds; the lanes are then summed pairwise by halving
// (lane i += lane i+L/2, ..., down to one), and the kk%L remaining products
// are added one by one in k order (rounded product, then sum). So splitting
// the n rows across workers, or changing the batch m, never changes a
// result bit. Different levels round differently (within a few ulp of the
// float32 sum, scaled by sum |x·w|).
//
// # Memory
//
// No kernel allocates. The matrix products read W in its stored dtype and
// widen it in registers; they pack nothing, so they need no scratch.
package asm

// DotF32 returns sum(a[i]*b[i]) for i < len(a). len(b) must be >= len(a).
func DotF32(a, b []float32) float32 { return dotF32(a, b) }

// AxpyF32 computes y[i] += alpha*x[i] for i < len(x). len(y) must be >= len(x).
func AxpyF32(alpha float32, x, y []float32) { axpyF32(alpha, x, y) }

// MatMulF32 computes, for t < m and r < n,
//
//	y[t*ldy + r] = sum_{k < kk} x[t*ldx + k] * w[r*ldw + k]
//
// i.e. Y = X·Wᵀ with X [m, kk] (row stride ldx), W [n, kk] (row stride ldw)
// and Y [m, n] (row stride ldy). m = 1 is a matrix-vector product. The sum
// for one output element is computed in the same order whatever m, n and the
// position of row r in w, so splitting rows across workers never changes
// results.
func MatMulF32(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
	matMulF32(y, ldy, x, ldx, w, ldw, m, n, kk)
}

// MatMulBF16 is MatMulF32 with W stored as bfloat16 bit patterns (the upper
// 16 bits of a float32), widened exactly to float32.
func MatMulBF16(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	matMulBF16(y, ldy, x, ldx, w, ldw, m, n, kk)
}

// MatMulF16 is MatMulF32 with W stored as IEEE 754 binary16 bit patterns,
// widened exactly to float32.
func MatMulF16(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	matMulF16(y, ldy, x, ldx, w, ldw, m, n, kk)
}

// Dispatch names the kernel implementation in use ("generic", "avx2",
// "avx512", "avx512bf16", "neon", ...), for logs and benchmark reports.
func Dispatch() string { return dispatch }

// MatMulBF16BF16 is MatMulBF16 with the activations X also given as
// bfloat16 (see F32ToBF16): every product of two bfloat16 values is exact
// in float32, so it differs from MatMulBF16 only by the rounding of X to
// bfloat16. On "avx512bf16" it runs on VDPBF16PS, which adds the two
// products of lane pair (k, k+1) in one step and flushes denormals, so the
// sum is ordered by 32-wide blocks of pairs instead of the order described
// in the package comment (still the same for every m, n and row position).
// This is an opt-in fast path for prefill; it does not meet the float32
// golden tolerances. Other levels run a float32 kernel over widened
// operands, or the reference.
func MatMulBF16BF16(y []float32, ldy int, x []uint16, ldx int, w []uint16, ldw int, m, n, kk int) {
	matMulBF16BF16(y, ldy, x, ldx, w, ldw, m, n, kk)
}

// RMSNormF32 computes, for i < len(x),
//
//	dst[i] = w[i] * (x[i] * r),  r = 1/sqrt(sum_j x[j]²/len(x) + eps)
//
// in float32 (r is rounded once from float64), as in Hugging Face's
// Qwen RMSNorm. dst may alias x. len(dst) and len(w) must be >= len(x).
func RMSNormF32(dst, x, w []float32, eps float32) { rmsNormF32(dst, x, w, eps) }

// SiLUMulF32 computes dst[i] = gate[i] / (1 + exp(-gate[i])) * up[i] for
// i < len(gate) (the SwiGLU feed-forward gate). The vector exp is within
// 2 ulp of the correctly rounded float32 exp (1 ulp measured), overflows to
// +Inf and underflows gradually like it, so large |gate| saturates as in
// the reference. dst may alias gate or up. len(dst) and len(up) must be
// >= len(gate).
func SiLUMulF32(dst, gate, up []float32) { siluMulF32(dst, gate, up) }

// SoftmaxF32 replaces x with softmax(x) in place: m = max(x),
// e[i] = exp(x[i] - m), x[i] = e[i] * (1 / sum(e)). Empty x is a no-op.
// x must hold no NaN and not be all -Inf.
func SoftmaxF32(x []float32) { softmaxF32(x) }

// ScaleF32 computes x[i] *= alpha for i < len(x) (exact: one rounding).
func ScaleF32(alpha float32, x []float32) { scaleF32(alpha, x) }

// AddF32 computes dst[i] = a[i] + b[i] for i < len(a) (exact). dst may
// alias a or b. len(dst) and len(b) must be >= len(a).
func AddF32(dst, a, b []float32) { addF32(dst, a, b) }

// RoPEF32 applies the rotate-half rotary embedding to one head x of even
// length d = len(x), in place, with h = d/2:
//
//	x[i]   = x[i]*cos[i] - x[i+h]*sin[i]
//	x[i+h] = x[i+h]*cos[i] + x[i]*sin[i]      (i < h, right side = old x)
//
// each product rounded, then the sum rounded (no fused multiply-add), which
// is exactly Hugging Face's q*cos + rotate_half(q)*sin whose cos/sin tables
// repeat their first half. cos and sin hold the h angles of one position;
// len(cos) and len(sin) must be >= h. An odd last element is left as is.
func RoPEF32(x, cos, sin []float32) { ropeF32(x, cos, sin) }
