// Package tensor provides the few tensor operations a decoder-only
// transformer needs — matrix products over weights in their stored dtype,
// RMSNorm, rotary embeddings, softmax, SiLU, causal grouped-query attention
// over a KV cache — and the persistent worker pool that splits them across
// cores.
//
// Data are plain row-major []float32 slices with explicit shapes; weights are
// Mat views over memory-mapped checkpoint bytes. Numeric inner loops are
// delegated to package asm (SIMD with pure-Go fallbacks); every op here has a
// straightforward reference implementation in reference.go that tests
// compare against. tensor knows nothing about Qwen, checkpoints or files.
package tensor

import (
	"fmt"
	"unsafe"

	"github.com/latentmas/latentmas/asm"
)

// DType is the element type of a weight matrix.
type DType uint8

// Weight dtypes.
const (
	F32 DType = iota
	BF16
	F16
)

func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes per element.
func (d DType) Size() int {
	if d == F32 {
		return 4
	}
	return 2
}

// Mat is a row-major [Rows, Cols] weight matrix in its stored dtype: F32
// holds the data when DType is F32, U16 the bit patterns for BF16 and F16.
// It is usually a view into a memory-mapped file and must not be written.
type Mat struct {
	DType      DType
	Rows, Cols int
	F32        []float32
	U16        []uint16
}

// Bytes is the size of the matrix data in bytes.
func (m *Mat) Bytes() int64 { return int64(m.Rows) * int64(m.Cols) * int64(m.DType.Size()) }

// Row widens row r into dst[:Cols].
func (m *Mat) Row(r int, dst []float32) {
	dst = dst[:m.Cols]
	switch m.DType {
	case F32:
		copy(dst, m.F32[r*m.Cols:(r+1)*m.Cols])
	case BF16:
		for i, b := range m.U16[r*m.Cols : (r+1)*m.Cols] {
			dst[i] = asm.BF16ToF32(b)
		}
	case F16:
		for i, b := range m.U16[r*m.Cols : (r+1)*m.Cols] {
			dst[i] = asm.F16ToF32(b)
		}
	}
}

// Check verifies that the backing slice matches the shape and dtype.
func (m *Mat) Check() error {
	n := m.Rows * m.Cols
	switch m.DType {
	case F32:
		if len(m.F32) != n {
			return fmt.Errorf("tensor: F32 matrix [%d %d] has %d elements", m.Rows, m.Cols, len(m.F32))
		}
	case BF16, F16:
		if len(m.U16) != n {
			return fmt.Errorf("tensor: %v matrix [%d %d] has %d elements", m.DType, m.Rows, m.Cols, len(m.U16))
		}
	default:
		return fmt.Errorf("tensor: unknown dtype %v", m.DType)
	}
	return nil
}

// Every matrix product (MatMul, MatMulBF16Act, MatMuls) runs through
// runMulti with one of two parallel jobs, one parallel operation per call
// whatever the number of products:
//   - m ≤ mmSmallM (decode): multiJob, whose items are the weight rows of
//     all the products one after another (slabs of them, a chunk), every
//     activation row going along, so each weight is read once;
//   - m > mmSmallM (prefill): matmulJob, whose items are blocks of
//     mmBlockM activation rows by blockRows weight rows of every product
//     one after another, so a call is tens to hundreds of items and the
//     workers finish together. Within a product items go
//     weight-block-major: a worker's consecutive items share a weight
//     block, which stays in its L2 for all the activation blocks, so
//     weights come from memory once per product instead of once per
//     activation block (their first pass ran at DRAM speed).
//
// A row's result never depends on the split.
const (
	mmSmallM = 16
	// mmBlockM is a multiple of every tile height (4, 5, 6). Blocks of
	// 60 rows rather than 120 finish a product's workers closer together:
	// Qwen2.5-0.5B's 896×896 products at m = 512 on two threads, 700 →
	// 754 GFLOP/s (medians of 60 alternations).
	mmBlockM = 60
	mmBlockN = 192
)

// blockRows is the weight rows of one matmulJob item over w: mmBlockN, or
// for rows too long for that many to fit L2, the rows the kernels sweep
// under one activation tile (asm.MatMulSweepRows), so that no item ends
// mid-sweep. Qwen2.5-0.5B's down projection (4864 columns, sweeps of 36
// bfloat16 rows) split at 192 rows left a 12-row sweep in every item:
// m = 512, two threads, 586-649 → 664-689 GFLOP/s (medians of 60
// alternations, bfloat16 activations). bf16Act: the activations are
// bfloat16 (MatMulBF16Act).
func blockRows(w *Mat, bf16Act bool) int {
	xs := 4
	if bf16Act {
		xs = 2
	}
	return min(mmBlockN, asm.MatMulSweepRows(w.Cols, xs, w.DType.Size()))
}

// matmulJob is up to maxProducts products in blocks of mmBlockM activation
// rows by blockRows weight rows, product after product, each
// weight-block-major: the consecutive items a worker claims mostly share
// their weights.
type matmulJob struct {
	x   []float32
	xb  []uint16 // bfloat16 activations, else nil
	m   int
	ps  [maxProducts]Product
	bn  [maxProducts]int // weight rows of an item of each product
	end [maxProducts]int // items of the products up to and including each
	nm  int              // blocks of activation rows
}

func (j *matmulJob) Run(_, lo, hi int) {
	p, base := 0, 0
	for i := lo; i < hi; i++ {
		for i >= j.end[p] {
			base = j.end[p]
			p++
		}
		pr, b := &j.ps[p], i-base
		t0, r0 := b%j.nm*mmBlockM, b/j.nm*j.bn[p]
		mulBlock(pr.Y, j.x, j.xb, pr.W, t0, min(j.m, t0+mmBlockM), r0, min(pr.W.Rows, r0+j.bn[p]))
	}
}

// mulBlock computes y[t0:t1, lo:hi] of y = x·wᵀ (activation rows t0..t1,
// weight rows lo..hi), from xb when it is not nil.
func mulBlock(y, x []float32, xb []uint16, w *Mat, t0, t1, lo, hi int) {
	k, n := w.Cols, w.Rows
	y = y[t0*n+lo:]
	if xb != nil {
		asm.MatMulBF16BF16(y, n, xb[t0*k:], k, w.U16[lo*k:hi*k], k, t1-t0, hi-lo, k)
		return
	}
	x = x[t0*k:]
	switch w.DType {
	case F32:
		asm.MatMulF32(y, n, x, k, w.F32[lo*k:hi*k], k, t1-t0, hi-lo, k)
	case BF16:
		asm.MatMulBF16(y, n, x, k, w.U16[lo*k:hi*k], k, t1-t0, hi-lo, k)
	case F16:
		asm.MatMulF16(y, n, x, k, w.U16[lo*k:hi*k], k, t1-t0, hi-lo, k)
	}
}

// Product is one output of MatMuls: Y = x·Wᵀ.
type Product struct {
	Y []float32
	W *Mat
}

// maxProducts bounds the products of one MatMuls call (q, k, v).
const maxProducts = 3

// multiJob is the rows of up to maxProducts products for m ≤ mmSmallM.
type multiJob struct {
	x  []float32
	xb []uint16 // bfloat16 activations, else nil
	m  int
	ps [maxProducts]Product
	np int
}

func (j *multiJob) Run(_, lo, hi int) {
	base := 0
	for i := 0; i < j.np && lo < hi; i++ {
		p := &j.ps[i]
		n := p.W.Rows
		if lo < base+n {
			e := min(hi, base+n)
			mulBlock(p.Y, j.x, j.xb, p.W, 0, j.m, lo-base, e-base)
			lo = e
		}
		base += n
	}
}

// MatMul computes y = x·wᵀ for m rows: x is [m, w.Cols], y is [m, w.Rows].
// The work is split across the pool's workers; results do not depend on
// the number of workers.
func MatMul(p *Pool, y, x []float32, m int, w *Mat) {
	runMulti(p, x, nil, m, []Product{{y, w}})
}

// bf16Job rounds float32 activations to bfloat16 in parallel slabs.
type bf16Job struct {
	dst []uint16
	src []float32
}

func (j *bf16Job) Run(_, lo, hi int) { asm.F32ToBF16(j.dst[lo:hi], j.src[lo:hi]) }

// ToBF16 rounds x to bfloat16 (nearest even) into dst, grown as needed, and
// returns it: the activations of MatMulBF16Act.
func ToBF16(p *Pool, dst []uint16, x []float32) []uint16 {
	if cap(dst) < len(x) {
		b := HugeBytes(2 * len(x))
		dst = unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(x))
	}
	dst = dst[:len(x)]
	j := &p.cv
	j.dst, j.src = dst, x
	p.runSmall(len(x), len(x), p.Grain(len(x), 4096, 64), j)
	j.dst, j.src = nil, nil
	return dst
}

// MatMulBF16Act is MatMul for bfloat16 weights from activations already
// rounded to bfloat16 (xb, [m, w.Cols], from ToBF16): every product of two
// bfloat16 values is exact in float32 and the sums are float32, on
// VDPBF16PS where the CPU has it (asm.MatMulBF16BF16). It differs from
// MatMul only by the rounding of the activations — as in a bfloat16
// PyTorch model — and like MatMul a row's result depends on nothing but
// that row.
func MatMulBF16Act(p *Pool, y []float32, xb []uint16, m int, w *Mat) {
	runMulti(p, nil, xb, m, []Product{{y, w}})
}

// MatMuls computes several products of the same activations, x ([m, k]),
// with weight matrices of k columns, as MatMul does each (the same bits)
// but in one parallel operation: the q, k and v (or gate and up)
// projections then cost one hand-off between workers instead of three, and
// the small k and v matrices do not each leave a core idle at their end.
// It takes at most 3 products.
func MatMuls(p *Pool, x []float32, m int, ps ...Product) {
	runMulti(p, x, nil, m, ps)
}

// MatMulsBF16Act is MatMuls over activations rounded to bfloat16 (see
// MatMulBF16Act); every W must be bfloat16.
func MatMulsBF16Act(p *Pool, xb []uint16, m int, ps ...Product) {
	runMulti(p, nil, xb, m, ps)
}

// runMulti checks the shapes and runs the products: from xb (bfloat16
// activations) when x is nil.
func runMulti(p *Pool, x []float32, xb []uint16, m int, ps []Product) {
	if len(ps) > maxProducts {
		panic("tensor: MatMuls takes at most 3 products")
	}
	if len(ps) == 0 {
		return
	}
	k, rows := ps[0].W.Cols, 0
	for i := range ps {
		w := ps[i].W
		if w.Cols != k {
			panic("tensor: MatMuls weights differ in columns")
		}
		if xb != nil && w.DType != BF16 {
			panic("tensor: MatMulBF16Act needs bfloat16 weights")
		}
		if m > 0 && w.Rows > 0 {
			_ = ps[i].Y[m*w.Rows-1]
		}
		rows += w.Rows
	}
	if m == 0 || rows == 0 {
		return
	}
	if xb != nil {
		_ = xb[m*k-1]
	} else {
		_ = x[m*k-1]
	}
	if m > mmSmallM {
		j := &p.mm
		j.x, j.xb, j.m = x, xb, m
		j.nm = (m + mmBlockM - 1) / mmBlockM
		n := 0
		for i := range ps {
			j.ps[i] = ps[i]
			j.bn[i] = blockRows(ps[i].W, xb != nil)
			n += j.nm * ((ps[i].W.Rows + j.bn[i] - 1) / j.bn[i])
			j.end[i] = n
		}
		p.Run(n, 1, j)
		j.x, j.xb, j.ps = nil, nil, [maxProducts]Product{}
		return
	}
	j := &p.multi
	j.x, j.xb, j.m, j.np = x, xb, m, copy(j.ps[:], ps)
	// Chunks are whole 16-row slabs (the kernels reuse each activation row
	// across a slab), larger while much is left (Pool.Run).
	p.Run(rows, 16, j)
	j.x, j.xb, j.ps = nil, nil, [maxProducts]Product{}
}

// AddBias adds b to each of the m rows of x ([m, len(b)]).
func AddBias(x []float32, m int, b []float32) {
	n := len(b)
	for t := 0; t < m; t++ {
		row := x[t*n : (t+1)*n]
		for i := range row {
			row[i] += b[i]
		}
	}
}

// Add computes dst[i] += src[i].
func Add(dst, src []float32) { asm.AddF32(dst, dst, src) }
