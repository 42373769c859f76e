package tensor

import "github.com/latentmas/latentmas/asm"

// The element-wise operations of a layer are parallel for a prefill and
// serial for a decode step: a hand-off to the workers costs about a
// microsecond, which a token's few thousand elements do not repay, while a
// 512-token prefill's SiLU·mul over 2.5 million elements is a millisecond
// a layer.

// parMin is the fewest elements an operation splits across the workers.
const parMin = 1 << 15

type ewOp int

const (
	ewSiLUMul ewOp = iota
	ewAdd
	ewAddBias
	ewRMSNorm
)

// ewJob is the reusable job of the Pool's element-wise operations. Row
// operations (ewAddBias, ewRMSNorm) take rows as items, the others
// elements.
type ewJob struct {
	op      ewOp
	dst, a  []float32
	w       []float32 // bias or norm weight: one row
	eps     float32
	rowSize int
}

func (j *ewJob) Run(_, lo, hi int) {
	switch j.op {
	case ewSiLUMul:
		asm.SiLUMulF32(j.dst[lo:hi], j.dst[lo:hi], j.a[lo:hi])
	case ewAdd:
		asm.AddF32(j.dst[lo:hi], j.dst[lo:hi], j.a[lo:hi])
	case ewAddBias:
		AddBias(j.dst[lo*j.rowSize:hi*j.rowSize], hi-lo, j.w)
	case ewRMSNorm:
		d := j.rowSize
		RMSNorm(j.dst[lo*d:hi*d], j.a[lo*d:hi*d], hi-lo, j.w, j.eps)
	}
}

// ew runs j over items items of size elements each, in parallel when
// there are enough elements.
func (p *Pool) ew(j *ewJob, items, size int) {
	align := 1
	if size == 1 {
		align = 64 // whole cache lines
	}
	p.runSmall(items, items*size, p.Grain(items, max(1, 4096/size), align), j)
	*j = ewJob{}
}

// runSmall is Run for an operation over elems elements in all: on the
// caller alone below parMin, where a hand-off costs more than the work.
func (p *Pool) runSmall(items, elems, grain int, j Job) {
	if p.threads == 1 || elems < parMin {
		j.Run(0, 0, items)
		return
	}
	p.Run(items, grain, j)
}

// SiLUMul is SiLUMul (gate = silu(gate)·up) across the workers.
func (p *Pool) SiLUMul(gate, up []float32) {
	up = up[:len(gate)]
	j := &p.ew1
	j.op, j.dst, j.a = ewSiLUMul, gate, up
	p.ew(j, len(gate), 1)
}

// Add is Add (dst += src) across the workers.
func (p *Pool) Add(dst, src []float32) {
	src = src[:len(dst)]
	j := &p.ew1
	j.op, j.dst, j.a = ewAdd, dst, src
	p.ew(j, len(dst), 1)
}

// AddBias is AddBias (each of the m rows of x += b) across the workers.
func (p *Pool) AddBias(x []float32, m int, b []float32) {
	_ = x[m*len(b)-1]
	j := &p.ew1
	j.op, j.dst, j.w, j.rowSize = ewAddBias, x, b, len(b)
	p.ew(j, m, len(b))
}

// RMSNorm is RMSNorm (m rows of x into dst) across the workers.
func (p *Pool) RMSNorm(dst, x []float32, m int, w []float32, eps float32) {
	_, _ = dst[m*len(w)-1], x[m*len(w)-1]
	j := &p.ew1
	j.op, j.dst, j.a, j.w, j.eps, j.rowSize = ewRMSNorm, dst, x, w, eps, len(w)
	p.ew(j, m, len(w))
}

// ropeJob rotates the q and k rows of a prefill, a row (token) an item.
type ropeJob struct {
	q, k       []float32
	qh, kh, hd int
	cos, sin   []float32 // [rows, hd/2]
}

func (j *ropeJob) Run(_, lo, hi int) {
	qd, kd, h2 := j.qh*j.hd, j.kh*j.hd, j.hd/2
	for r := lo; r < hi; r++ {
		cs, sn := j.cos[r*h2:(r+1)*h2], j.sin[r*h2:(r+1)*h2]
		ApplyRope(j.q[r*qd:(r+1)*qd], j.qh, j.hd, cs, sn)
		ApplyRope(j.k[r*kd:(r+1)*kd], j.kh, j.hd, cs, sn)
	}
}

// Rope applies RoPE to m rows of queries (qHeads heads of hd) and keys
// (kHeads heads), row r by the angles cos/sin[r·hd/2 : (r+1)·hd/2], as
// ApplyRope does each row, across the workers.
func (p *Pool) Rope(q []float32, qHeads int, k []float32, kHeads, hd int, cos, sin []float32, m int) {
	if m == 0 {
		return
	}
	_, _ = q[m*qHeads*hd-1], k[m*kHeads*hd-1]
	_, _ = cos[m*hd/2-1], sin[m*hd/2-1]
	j := &p.rope
	*j = ropeJob{q: q, k: k, qh: qHeads, kh: kHeads, hd: hd, cos: cos, sin: sin}
	p.runSmall(m, m*(qHeads+kHeads)*hd, p.Grain(m, 1, 1), j)
	*j = ropeJob{}
}
