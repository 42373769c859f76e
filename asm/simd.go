//go:build (amd64 || arm64) && !purego

package asm

import (
	"sync"
	"unsafe"
)

// tileFn is a register-tiled micro-kernel over mr rows of x and nr rows of
// w (mr, nr given by its place in a tileSet): it writes the lane-reduced
// sums of nblk blocks of k into y (strides in bytes).
type tileFn = func(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr)

// tileSet[mr-1][nr-1] is the mr×nr micro-kernel.
type tileSet [][]tileFn

// ksTileFn is a tileFn over one part of a split k: it carries its whole
// accumulator vectors in st (64 bytes each, row-major over the mr×nr tile);
// phase bit 0 loads them from st instead of starting from zero, bit 1
// reduces them into y instead of saving them. The parts of a split product
// so give the same bits as the whole.
type ksTileFn = func(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr, st unsafe.Pointer, phase uintptr)

// ksTileSet[mr-1][nr-1] is the mr×nr k-split micro-kernel.
type ksTileSet [][]ksTileFn

// stripFn is the tallest full tile of a tileSet (mrMax × nrMax) run ng
// times along w: tile j takes w rows and y columns j·nrMax… for the same x.
type stripFn = func(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr, ng uintptr)

// ksStripFn is stripFn for k-split tiles: tile j also takes the
// accumulators of st at j·mrMax·nrMax·64 bytes.
type ksStripFn = func(x unsafe.Pointer, ldx uintptr, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, ldy uintptr, nblk uintptr, st unsafe.Pointer, phase uintptr, ng uintptr)

// mmSet is a level's micro-kernels of one product type for driveMM.
type mmSet struct {
	tiles tileSet   // nil if the level has none
	ks    ksTileSet // the same over parts of a split k; nil if absent
	pf    tileSet   // prefetching mr×4 tiles ([mr-1][0]) for small m; nil if absent
	// strip and ksStrip run the x-stationary order's full tiles, nil if
	// absent: a call for a strip of tiles instead of one a tile (prefill
	// 1–3% faster, see the generator).
	strip   stripFn
	ksStrip ksStripFn
	mv      mvSet // the matrix-vector product (m = 1)
}

// ksState holds the accumulators of the k-split tiles of one block of w
// rows: pooled, so a product allocates nothing once warm.
var ksState = sync.Pool{New: func() any { return new([]float32) }}

// vecKernels is the SIMD kernel set of one level.
type vecKernels struct {
	lanes    int
	dot      func(a, b unsafe.Pointer, nblk uintptr) float32
	axpy     func(alpha float32, x, y unsafe.Pointer, nblk uintptr)
	sumSq    func(x unsafe.Pointer, nblk uintptr) float32
	scale    func(alpha float32, x unsafe.Pointer, nblk uintptr)
	add      func(dst, a, b unsafe.Pointer, nblk uintptr)
	mulScale func(dst, x, w unsafe.Pointer, r float32, nblk uintptr)
	siluMul  func(dst, gate, up unsafe.Pointer, nblk uintptr)
	max      func(x unsafe.Pointer, nblk uintptr) float32
	expSum   func(x unsafe.Pointer, m float32, nblk uintptr) float32
	rope     func(x unsafe.Pointer, half uintptr, c, s unsafe.Pointer, nblk uintptr)
	toBF16   func(dst, src unsafe.Pointer, nblk uintptr) // 16 floats a block; nil if absent
	// Products per weight type; bf16dp (VDPBF16PS over 32-wide k blocks)
	// has no tiles where the level lacks it.
	f32, bf16, f16, bf16dp mmSet
	// NN (outer-product) tiles over 64 columns, [mr-1] for mr rows; nil
	// if absent.
	nn      []tileFn
	peakFMA func(n uintptr)
	peakDP  func(n uintptr)
}

// rowsFn is a matrix-vector kernel over rows w rows (ldw bytes apart),
// y[r] = x·w[r] over nblk k blocks, a row after another.
type rowsFn func(x, w unsafe.Pointer, ldw uintptr, y unsafe.Pointer, nblk, rows uintptr)

// mvSet is a level's matrix-vector product (m = 1) for one weight type:
// rows when set, else tile over n rows at a time; nothing set leaves m = 1
// to the level's general tiles.
//
// A row after another (rows, or a 1×1 tile with n = 1) is one sequential
// stream that the hardware prefetchers serve at the full read bandwidth;
// several rows at once are as many short streams (a row of Qwen2.5-0.5B is
// 28–56 lines). Rows are independent dependency chains, so out-of-order
// execution overlaps consecutive rows, best when the loop is in assembly
// (rows: no call a row). 512 MB of k = 896 rows, 1 / 2 threads, GB/s: AVX2
// float32 15.1 → 24.7 / 24.8 → 33.8, bfloat16 8.9 → 13.3 / 16.5 → 25.5
// (from 8-row tiles); VDPBF16PS 19.7 → 25.7 / 25.4 → 31.9 (from the AVX-512
// 16-row tile that prefetches in memory order), where one stream's sum of
// squares read 25.4 / 28.8, and 64.3 GB/s instead of 49.6 from L2 with the
// loop in assembly. Qwen2.5-0.5B decode, bf16 compute, A/B: 20.4 → 24.0 →
// 24.7 tok/s (1 thread), 31.2 → 35.2 → 36.8 (2). Float32 weights went
// 11.4 → 12.5 tok/s (1 thread, 17.2 → 17.6 at 2) with rows, AVX-512
// bfloat16 weights with float32 activations 19.9 → 21.7 and 31.1 → 33.4
// (from 16 rows at once; called a row at a time from Go they had been no
// faster), float16 weights 20.7 → 24.5 and 32.2 → 33.9 (with their long
// rows four at a time). AVX2 row loops (rows256 in the generator) instead
// of its 1×1 tile called a row at a time from Go, 2 threads: bf16 23.2 →
// 26.3 tok/s, float32 15.2 → 16.1.
//
// long, when set, replaces rows for rows of at least longRowBlocks blocks:
// several rows at once (see rows4x512 in the generator), for rows too long
// for out-of-order execution to overlap one row's accumulator chain with
// the next row's.
type mvSet struct {
	rows rowsFn
	long rowsFn
	tile tileFn
	n    int
}

// longRowBlocks is the row length, in the kernels' k blocks (16 values
// on AVX-512, 8 on AVX2), from which mvSet.long runs: k = 2048 (1024 on
// AVX2), between Qwen's k = 896 rows (where two streams read slower than
// one) and its down projection's k = 4864.
const longRowBlocks = 128

func (v *vecKernels) impl(name string) *impl {
	i := &impl{
		name:           name,
		dotF32:         v.dotF32,
		axpyF32:        v.axpyF32,
		matMulF32:      v.matMulF32,
		matMulNNF32:    v.matMulNNF32,
		matMulBF16:     v.matMulBF16,
		matMulF16:      v.matMulF16,
		matMulBF16BF16: MatMulBF16BF16Generic,
		f32ToBF16:      F32ToBF16Generic,
		rmsNormF32:     v.rmsNormF32,
		siluMulF32:     v.siluMulF32,
		softmaxF32:     v.softmaxF32,
		scaleF32:       v.scaleF32,
		addF32:         v.addF32,
		ropeF32:        v.ropeF32,
		sumSqF32:       v.sumSqF32,
		sweepRows:      v.sweepRows,
		peakFMA:        v.peakFMA,
		peakFlops:      float64(12 * 2 * v.lanes),
	}
	// Kernels a level lacks run the reference.
	if v.siluMul == nil {
		i.siluMulF32 = SiLUMulF32Generic
	}
	if v.max == nil || v.expSum == nil {
		i.softmaxF32 = SoftmaxF32Generic
	}
	if v.rope == nil {
		i.ropeF32 = RoPEF32Generic
	}
	if v.toBF16 != nil {
		i.f32ToBF16 = v.f32ToBF16
	}
	if v.bf16dp.tiles != nil {
		i.matMulBF16BF16 = v.matMulBF16BF16
		i.peakDP, i.peakDPFlops = v.peakDP, 12*64
	}
	return i
}

func p32(s []float32) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(s)) }
func p16(s []uint16) unsafe.Pointer  { return unsafe.Pointer(unsafe.SliceData(s)) }

func (v *vecKernels) f32ToBF16(dst []uint16, src []float32) {
	n := len(src)
	dst = dst[:n]
	nb := n / 16
	if nb > 0 {
		v.toBF16(p16(dst), p32(src), uintptr(nb))
	}
	F32ToBF16Generic(dst[nb*16:], src[nb*16:])
}

func (v *vecKernels) dotF32(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	nb := n / v.lanes
	var s float32
	if nb > 0 {
		s = v.dot(p32(a), p32(b), uintptr(nb))
	}
	for i := nb * v.lanes; i < n; i++ {
		s += float32(a[i] * b[i])
	}
	return s
}

func (v *vecKernels) axpyF32(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	nb := n / v.lanes
	if nb > 0 {
		v.axpy(alpha, p32(x), p32(y), uintptr(nb))
	}
	for i := nb * v.lanes; i < n; i++ {
		y[i] += alpha * x[i]
	}
}

func (v *vecKernels) sumSqF32(x []float32) float32 {
	nb := len(x) / v.lanes
	var s float32
	if nb > 0 {
		s = v.sumSq(p32(x), uintptr(nb))
	}
	for _, e := range x[nb*v.lanes:] {
		s += float32(e * e)
	}
	return s
}

func (v *vecKernels) rmsNormF32(dst, x, w []float32, eps float32) {
	n := len(x)
	if n == 0 {
		return
	}
	dst, w = dst[:n], w[:n]
	r := rmsScale(v.sumSqF32(x), n, eps)
	nb := n / v.lanes
	if nb > 0 {
		v.mulScale(p32(dst), p32(x), p32(w), r, uintptr(nb))
	}
	for i := nb * v.lanes; i < n; i++ {
		dst[i] = w[i] * float32(x[i]*r)
	}
}

func (v *vecKernels) siluMulF32(dst, gate, up []float32) {
	n := len(gate)
	dst, up = dst[:n], up[:n]
	nb := n / v.lanes
	if nb > 0 {
		v.siluMul(p32(dst), p32(gate), p32(up), uintptr(nb))
	}
	o := nb * v.lanes
	SiLUMulF32Generic(dst[o:], gate[o:], up[o:])
}

func (v *vecKernels) softmaxF32(x []float32) {
	n := len(x)
	if n == 0 {
		return
	}
	nb := n / v.lanes
	m := x[0]
	if nb > 0 {
		m = v.max(p32(x), uintptr(nb))
	}
	for _, e := range x[nb*v.lanes:] {
		if e > m {
			m = e
		}
	}
	var s float32
	if nb > 0 {
		s = v.expSum(p32(x), m, uintptr(nb))
	}
	for i := nb * v.lanes; i < n; i++ {
		e := exp32(x[i] - m)
		x[i] = e
		s += e
	}
	v.scaleF32(1/s, x)
}

func (v *vecKernels) scaleF32(alpha float32, x []float32) {
	nb := len(x) / v.lanes
	if nb > 0 {
		v.scale(alpha, p32(x), uintptr(nb))
	}
	for i := nb * v.lanes; i < len(x); i++ {
		x[i] *= alpha
	}
}

func (v *vecKernels) addF32(dst, a, b []float32) {
	n := len(a)
	dst, b = dst[:n], b[:n]
	nb := n / v.lanes
	if nb > 0 {
		v.add(p32(dst), p32(a), p32(b), uintptr(nb))
	}
	for i := nb * v.lanes; i < n; i++ {
		dst[i] = a[i] + b[i]
	}
}

func (v *vecKernels) ropeF32(x, cos, sin []float32) {
	h := len(x) / 2
	cos, sin = cos[:h], sin[:h]
	nb := h / v.lanes
	if nb > 0 {
		v.rope(p32(x), uintptr(h*4), p32(cos), p32(sin), uintptr(nb))
	}
	o := nb * v.lanes
	x1, x2 := x[o:h], x[h+o:2*h]
	for i := range x1 {
		a, b := x1[i], x2[i]
		c, s := cos[o+i], sin[o+i]
		x1[i] = float32(a*c) - float32(b*s)
		x2[i] = float32(b*c) + float32(a*s)
	}
}

// checkMM panics unless the slices hold every element a matrix product of
// the given shape touches.
func checkMM(ly, ldy, lx, ldx, lw, ldw, m, n, kk int) {
	if m < 0 || n < 0 || kk < 0 || ldx < 0 || ldw < 0 || ldy < 0 {
		panic("asm: negative dimension or stride")
	}
	if m == 0 || n == 0 {
		return
	}
	if lx < (m-1)*ldx+kk || lw < (n-1)*ldw+kk || ly < (m-1)*ldy+n {
		panic("asm: matrix slice too short for its shape")
	}
}

// smallM is the largest m for which the prefetching tiles are used: with
// few activation rows the product is bound by reading w from memory.
var smallM = 16

// xBlockBytes bounds the rows of x swept per block of w rows so that they
// stay in L2 while a block of w rows sits in L1.
const xBlockBytes = 256 << 10

// xTileBytes bounds an x tile kept in L1 by the x-stationary order (and
// wBlockBytes, in asm.go, the w rows it sweeps from L2).
const xTileBytes = 24 << 10

// driveMM runs the micro-kernels of mm over the whole product; kb is the k
// block width of its tiles, xs and ws the element sizes of x and w in
// bytes. For m = 1 it runs mm.mv (see mvSet) when that has a kernel. The
// k-split tiles, when given, let the x-stationary order also serve a kk
// too long for an x tile in L1.
func driveMM(mm mmSet, kb int, y []float32, ldy int, xp unsafe.Pointer, xs, ldx int, wp unsafe.Pointer, ws, ldw int, m, n, kk int) {
	ts, ks, pf, mv := mm.tiles, mm.ks, mm.pf, mm.mv
	mrMax, nrMax := len(ts), len(ts[0])
	nblk := uintptr(kk / kb)
	mb := m
	if kk > 0 {
		mb = xBlockBytes / (kk * xs) / mrMax * mrMax
	}
	if mb < mrMax {
		mb = mrMax
	}
	yp := p32(y)
	bx, bw, by := uintptr(ldx*xs), uintptr(ldw*ws), uintptr(ldy*4)
	if m == 1 && mv.rows != nil {
		if mv.long != nil && nblk >= longRowBlocks {
			mv.long(xp, wp, bw, yp, nblk, uintptr(n))
		} else {
			mv.rows(xp, wp, bw, yp, nblk, uintptr(n))
		}
		return
	}
	if m == 1 && mv.tile != nil {
		r0 := 0
		for ; r0+mv.n <= n; r0 += mv.n {
			mv.tile(xp, bx, unsafe.Add(wp, r0*ldw*ws), bw, unsafe.Add(yp, r0*4), by, nblk)
		}
		for ; r0 < n; r0 += nrMax {
			nr := min(nrMax, n-r0)
			ts[0][nr-1](xp, bx, unsafe.Add(wp, r0*ldw*ws), bw, unsafe.Add(yp, r0*4), by, nblk)
		}
		return
	}
	if m > smallM || nrMax != 4 {
		pf = nil
	}
	kc := mm.part(kb, xs, int(nblk))
	if m > smallM && kc < int(nblk) {
		if ksParts(nrMax, kk, ws) {
			driveKSParts(ks, mm.ksStrip, kc, kb, y, ldy, xp, xs, ldx, wp, ws, ldw, m, n, kk)
		} else {
			driveKS(ks, mm.ksStrip, kc, kb, y, ldy, xp, xs, ldx, wp, ws, ldw, m, n, kk)
		}
		return
	}
	if m > smallM && mrMax*kk*xs <= xTileBytes {
		// x-stationary: an mr-row tile of x stays in L1 while a block of
		// w rows that fits L2 streams under it, so the kernel's L2 traffic
		// is w (half of x's bytes for bf16), not x.
		nbw := wBlockRows(nrMax, kk, ws)
		for w0 := 0; w0 < n; w0 += nbw {
			w1 := min(n, w0+nbw)
			for t := 0; t < m; t += mrMax {
				mr := min(mrMax, m-t)
				xt := unsafe.Add(xp, t*ldx*xs)
				r0 := w0
				if ng := (w1 - w0) / nrMax; mr == mrMax && mm.strip != nil && ng > 0 {
					mm.strip(xt, bx, unsafe.Add(wp, r0*ldw*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by, nblk, uintptr(ng))
					r0 += ng * nrMax
				}
				for ; r0 < w1; r0 += nrMax {
					nr := min(nrMax, w1-r0)
					ts[mr-1][nr-1](xt, bx, unsafe.Add(wp, r0*ldw*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by, nblk)
				}
			}
		}
		return
	}
	for t0 := 0; t0 < m; t0 += mb {
		t1 := min(m, t0+mb)
		for r0 := 0; r0 < n; r0 += nrMax {
			nr := min(nrMax, n-r0)
			wr := unsafe.Add(wp, r0*ldw*ws)
			for t := t0; t < t1; t += mrMax {
				mr := min(mrMax, t1-t)
				k := ts[mr-1][nr-1]
				if pf != nil && nr == 4 && mr <= len(pf) {
					k = pf[mr-1][0]
				}
				k(unsafe.Add(xp, t*ldx*xs), bx, wr, bw, unsafe.Add(yp, (t*ldy+r0)*4), by, nblk)
			}
		}
	}
}

// ksStateBytes bounds the accumulators driveKSParts carries between parts
// (1.5 KiB a 6×4 tile): they share L2 with the block of w.
const ksStateBytes = 256 << 10

// ksShortRows is the fewest whole w rows in an L2 block for which driveKS
// keeps its order; below it driveKSParts runs. Qwen2.5-0.5B's down
// projection in float32 (4864 columns: blocks of 16 rows, so an x tile
// was read back from L3 every 4 tiles), m = 512, 2 threads: 152 → 168
// GFLOP/s a thread; prefill-512 in-process alternating, 415 → 430 tok/s
// (23 of 24). VDPBF16PS's blocks of 36 rows (bfloat16 x, half the bytes)
// ran 2% slower in the parts order (prefill, 9 of 24 pairs faster).
const ksShortRows = 32

// ksParts says whether driveMM runs a k-split product by driveKSParts.
func ksParts(nrMax, kk, ws int) bool { return wBlockRows(nrMax, kk, ws) < ksShortRows }

// part is the k blocks (of kb values, xs bytes each in x) of an x tile
// that driveMM's x-stationary order keeps in L1 at a time: all nblk if
// they fit, else (with k-split tiles) equal parts that do.
func (mm *mmSet) part(kb, xs, nblk int) int {
	kc := nblk
	if fit := max(1, xTileBytes/(len(mm.tiles)*kb*xs)); kc > fit && mm.ks != nil {
		parts := (kc + fit - 1) / fit
		kc = (kc + parts - 1) / parts
	}
	return kc
}

// sweepRows is MatMulSweepRows for this level: the w rows driveMM's
// x-stationary order (m > smallM) sweeps under one x tile, for x of xs
// and w of ws bytes an element.
func (v *vecKernels) sweepRows(kk, xs, ws int) int {
	mm, kb := &v.bf16, v.lanes
	switch {
	case xs == 2:
		mm, kb = &v.bf16dp, 32
	case ws == 4:
		mm = &v.f32
	}
	if mm.tiles == nil || kk < kb {
		return wBlockRows(4, kk, ws)
	}
	nrMax := len(mm.tiles[0])
	if kc := mm.part(kb, xs, kk/kb); kc < kk/kb && ksParts(nrMax, kk, ws) {
		return wBlockRows(nrMax, kc*kb, ws)
	}
	return wBlockRows(nrMax, kk, ws)
}

// driveKS is driveMM's x-stationary order for a kk whose x tile does not
// fit L1: per x tile, k goes in parts of kc blocks, each part's x tile
// staying in L1 while the block of w rows (whole k, sized for L2) streams
// under it, and the tiles carry their accumulators from part to part.
func driveKS(ks ksTileSet, strip ksStripFn, kc, kb int, y []float32, ldy int, xp unsafe.Pointer, xs, ldx int, wp unsafe.Pointer, ws, ldw int, m, n, kk int) {
	mrMax, nrMax := len(ks), len(ks[0])
	nblk := kk / kb
	nbw := wBlockRows(nrMax, kk, ws)
	// 64 bytes per accumulator, 64-byte aligned.
	per := mrMax * nrMax * 16
	sp := ksState.Get().(*[]float32)
	if need := (nbw+nrMax-1)/nrMax*per + 16; len(*sp) < need {
		*sp = make([]float32, need)
	}
	st := unsafe.Pointer(&(*sp)[0])
	st = unsafe.Add(st, (64-uintptr(st)%64)%64)
	yp := p32(y)
	bx, bw, by := uintptr(ldx*xs), uintptr(ldw*ws), uintptr(ldy*4)
	for w0 := 0; w0 < n; w0 += nbw {
		w1 := min(n, w0+nbw)
		for t := 0; t < m; t += mrMax {
			mr := min(mrMax, m-t)
			for k0 := 0; k0 < nblk; k0 += kc {
				nb := min(kc, nblk-k0)
				var phase uintptr
				if k0 > 0 {
					phase |= 1
				}
				if k0+nb == nblk {
					phase |= 2
				}
				xt := unsafe.Add(xp, (t*ldx+k0*kb)*xs)
				j, r0 := 0, w0
				if ng := (w1 - w0) / nrMax; mr == mrMax && strip != nil && ng > 0 {
					strip(xt, bx, unsafe.Add(wp, (r0*ldw+k0*kb)*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by,
						uintptr(nb), st, phase, uintptr(ng))
					j, r0 = ng, r0+ng*nrMax
				}
				for ; r0 < w1; j, r0 = j+1, r0+nrMax {
					nr := min(nrMax, w1-r0)
					ks[mr-1][nr-1](xt, bx, unsafe.Add(wp, (r0*ldw+k0*kb)*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by,
						uintptr(nb), unsafe.Add(st, j*per*4), phase)
				}
			}
		}
	}
	ksState.Put(sp)
}

// driveKSParts is driveKS with the k parts outside the x tiles: w goes in
// blocks of as many rows as fit L2 over one part, each block's part
// staying in L2 while all the x tiles (their parts) stream under it, so an
// x tile is read once per such block instead of once per block of whole w
// rows, which are few when rows are long (see ksShortRows). The tiles
// carry their accumulators from part to part in st, for groups of x tiles
// whose accumulators fit ksStateBytes.
func driveKSParts(ks ksTileSet, strip ksStripFn, kc, kb int, y []float32, ldy int, xp unsafe.Pointer, xs, ldx int, wp unsafe.Pointer, ws, ldw int, m, n, kk int) {
	mrMax, nrMax := len(ks), len(ks[0])
	nblk := kk / kb
	nbw := wBlockRows(nrMax, kc*kb, ws)
	// 64 bytes per accumulator, 64-byte aligned.
	per := mrMax * nrMax * 16
	wt := (min(nbw, n) + nrMax - 1) / nrMax // w tiles of a block
	xg := max(1, ksStateBytes/(wt*per*4))   // x tiles of a group
	xg = min(xg, (m+mrMax-1)/mrMax)
	sp := ksState.Get().(*[]float32)
	if need := xg*wt*per + 16; len(*sp) < need {
		*sp = make([]float32, need)
	}
	st := unsafe.Pointer(&(*sp)[0])
	st = unsafe.Add(st, (64-uintptr(st)%64)%64)
	yp := p32(y)
	bx, bw, by := uintptr(ldx*xs), uintptr(ldw*ws), uintptr(ldy*4)
	for w0 := 0; w0 < n; w0 += nbw {
		w1 := min(n, w0+nbw)
		for g0 := 0; g0 < m; g0 += xg * mrMax {
			g1 := min(m, g0+xg*mrMax)
			for k0 := 0; k0 < nblk; k0 += kc {
				nb := min(kc, nblk-k0)
				var phase uintptr
				if k0 > 0 {
					phase |= 1
				}
				if k0+nb == nblk {
					phase |= 2
				}
				for t := g0; t < g1; t += mrMax {
					mr := min(mrMax, g1-t)
					xt := unsafe.Add(xp, (t*ldx+k0*kb)*xs)
					sb := unsafe.Add(st, (t-g0)/mrMax*wt*per*4)
					j, r0 := 0, w0
					if ng := (w1 - w0) / nrMax; mr == mrMax && strip != nil && ng > 0 {
						strip(xt, bx, unsafe.Add(wp, (r0*ldw+k0*kb)*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by,
							uintptr(nb), sb, phase, uintptr(ng))
						j, r0 = ng, r0+ng*nrMax
					}
					for ; r0 < w1; j, r0 = j+1, r0+nrMax {
						nr := min(nrMax, w1-r0)
						ks[mr-1][nr-1](xt, bx, unsafe.Add(wp, (r0*ldw+k0*kb)*ws), bw, unsafe.Add(yp, (t*ldy+r0)*4), by,
							uintptr(nb), unsafe.Add(sb, j*per*4), phase)
					}
				}
			}
		}
	}
	ksState.Put(sp)
}

func (v *vecKernels) matMulF32(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
	checkMM(len(y), ldy, len(x), ldx, len(w), ldw, m, n, kk)
	if m == 0 || n == 0 {
		return
	}
	driveMM(v.f32, v.lanes, y, ldy, p32(x), 4, ldx, p32(w), 4, ldw, m, n, kk)
	if k0 := kk - kk%v.lanes; k0 < kk {
		for t := 0; t < m; t++ {
			xr := x[t*ldx+k0 : t*ldx+kk]
			for r := 0; r < n; r++ {
				wr := w[r*ldw+k0 : r*ldw+kk]
				s := y[t*ldy+r]
				for k, e := range xr {
					s += float32(e * wr[k])
				}
				y[t*ldy+r] = s
			}
		}
	}
}

func (v *vecKernels) matMulNNF32(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
	if m < 0 || n < 0 || kk < 0 || ldx < 0 || ldw < 0 || ldy < 0 {
		panic("asm: negative dimension or stride")
	}
	if m == 0 || n == 0 {
		return
	}
	if len(x) < (m-1)*ldx+kk || len(w) < max(0, (kk-1)*ldw+n) || len(y) < (m-1)*ldy+n {
		panic("asm: matrix slice too short for its shape")
	}
	c0 := 0
	if v.nn != nil && kk > 0 {
		mrMax := len(v.nn)
		for ; c0+64 <= n; c0 += 64 {
			for t := 0; t < m; t += mrMax {
				mr := min(mrMax, m-t)
				v.nn[mr-1](unsafe.Pointer(&x[t*ldx]), uintptr(ldx*4), unsafe.Pointer(&w[c0]), uintptr(ldw*4),
					unsafe.Pointer(&y[t*ldy+c0]), uintptr(ldy*4), uintptr(kk))
			}
		}
	}
	if c0 == n {
		return
	}
	// Columns without a tile: one axpy per (row, k), on this level's axpy.
	for t := 0; t < m; t++ {
		yr := y[t*ldy+c0 : t*ldy+n]
		clear(yr)
		for k := 0; k < kk; k++ {
			v.axpyF32(x[t*ldx+k], w[k*ldw+c0:k*ldw+n], yr)
		}
	}
}

func (v *vecKernels) matMulBF16(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	checkMM(len(y), ldy, len(x), ldx, len(w), ldw, m, n, kk)
	if m == 0 || n == 0 {
		return
	}
	driveMM(v.bf16, v.lanes, y, ldy, p32(x), 4, ldx, p16(w), 2, ldw, m, n, kk)
	if k0 := kk - kk%v.lanes; k0 < kk {
		for t := 0; t < m; t++ {
			xr := x[t*ldx+k0 : t*ldx+kk]
			for r := 0; r < n; r++ {
				wr := w[r*ldw+k0 : r*ldw+kk]
				s := y[t*ldy+r]
				for k, e := range xr {
					s += float32(e * BF16ToF32(wr[k]))
				}
				y[t*ldy+r] = s
			}
		}
	}
}

func (v *vecKernels) matMulF16(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int) {
	checkMM(len(y), ldy, len(x), ldx, len(w), ldw, m, n, kk)
	if m == 0 || n == 0 {
		return
	}
	driveMM(v.f16, v.lanes, y, ldy, p32(x), 4, ldx, p16(w), 2, ldw, m, n, kk)
	if k0 := kk - kk%v.lanes; k0 < kk {
		for t := 0; t < m; t++ {
			xr := x[t*ldx+k0 : t*ldx+kk]
			for r := 0; r < n; r++ {
				wr := w[r*ldw+k0 : r*ldw+kk]
				s := y[t*ldy+r]
				for k, e := range xr {
					s += float32(e * F16ToF32(wr[k]))
				}
				y[t*ldy+r] = s
			}
		}
	}
}

func (v *vecKernels) matMulBF16BF16(y []float32, ldy int, x []uint16, ldx int, w []uint16, ldw int, m, n, kk int) {
	checkMM(len(y), ldy, len(x), ldx, len(w), ldw, m, n, kk)
	if m == 0 || n == 0 {
		return
	}
	driveMM(v.bf16dp, 32, y, ldy, p16(x), 2, ldx, p16(w), 2, ldw, m, n, kk)
	if k0 := kk - kk%32; k0 < kk {
		for t := 0; t < m; t++ {
			xr := x[t*ldx+k0 : t*ldx+kk]
			for r := 0; r < n; r++ {
				wr := w[r*ldw+k0 : r*ldw+kk]
				s := y[t*ldy+r]
				for k, e := range xr {
					s += float32(BF16ToF32(e) * BF16ToF32(wr[k]))
				}
				y[t*ldy+r] = s
			}
		}
	}
}
