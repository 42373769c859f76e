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
