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
	if p.threads == 1 || items*size < parMin {
		j.Run(0, 0, items)
	} else {
		align := 1
		if size == 1 {
			align = 64 // whole cache lines
		}
		p.Run(items, p.Grain(items, max(1, 4096/size), align), j)
	}
	*j = ewJob{}
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
