package tensor

import (
	"math"

	"github.com/latentmas/latentmas/asm"
)

// RMSNorm normalises each of the m rows of x ([m, len(w)]) into dst:
// dst = x / sqrt(mean(x²) + eps) * w, computed in float32 as Hugging Face
// does (the mean of squares is accumulated in float64, which only makes it
// more accurate). dst may alias x.
func RMSNorm(dst, x []float32, m int, w []float32, eps float32) {
	d := len(w)
	for t := 0; t < m; t++ {
		rmsNormRow(dst[t*d:(t+1)*d], x[t*d:(t+1)*d], w, eps)
	}
}

func rmsNormRow(dst, x, w []float32, eps float32) { asm.RMSNormF32(dst, x, w, eps) }

// SiLUMul computes gate[i] = silu(gate[i]) * up[i], silu(x) = x·σ(x).
func SiLUMul(gate, up []float32) { asm.SiLUMulF32(gate, gate, up) }

// SoftmaxInPlace replaces x by softmax(x), subtracting the maximum first.
func SoftmaxInPlace(x []float32) { asm.SoftmaxF32(x) }

// Rope holds the rotary-embedding frequencies for one head dimension, in the
// Hugging Face "rotate half" convention: dimension i < hd/2 is paired with
// i + hd/2.
type Rope struct {
	HeadDim int
	InvFreq []float32 // [hd/2], 1/θ^(2i/hd) computed in float32 as HF does
}

// NewRope precomputes inverse frequencies for head dimension hd and base theta.
func NewRope(hd int, theta float64) *Rope {
	half := hd / 2
	r := &Rope{HeadDim: hd, InvFreq: make([]float32, half)}
	for i := 0; i < half; i++ {
		// HF: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all float32.
		e := float32(2*i) / float32(hd)
		r.InvFreq[i] = 1 / float32(math.Pow(theta, float64(e)))
	}
	return r
}

// Table fills cos and sin ([hd/2] each) for position pos. The angle is the
// float32 product pos·invFreq, as in HF, then cos/sin are taken in float64
// and rounded.
func (r *Rope) Table(pos int, cos, sin []float32) {
	p := float32(pos)
	for i, f := range r.InvFreq {
		a := float64(p * f)
		cos[i] = float32(math.Cos(a))
		sin[i] = float32(math.Sin(a))
	}
}

// ApplyRope rotates nHeads consecutive heads of size hd in x (one token) by
// the angles whose cos/sin ([hd/2]) are given:
// x' = x·cos + rotate_half(x)·sin, rotate_half([a, b]) = [−b, a].
func ApplyRope(x []float32, nHeads, hd int, cos, sin []float32) {
	for h := 0; h < nHeads; h++ {
		asm.RoPEF32(x[h*hd:(h+1)*hd], cos, sin)
	}
}

// AttnSeg is one sequence's share of a batched attention call. Its n new
// tokens sit at cache indices past..past+n-1 and their keys and values are
// already written there.
type AttnSeg struct {
	Q    []float32 // [N, H*hd] queries (after RoPE)
	Out  []float32 // [N, H*hd] result
	K, V []float32 // the sequence's cache for this layer, Past+N positions (see HeadMajor)
	N    int       // new tokens
	Past int       // cached positions before them
	// HeadMajor, when > 0, says K and V hold each KV head's rows
	// contiguously, head g's position p at g·HeadMajor + p·hd (HeadMajor
	// is then the capacity times hd); 0 means position-major [Past+N,
	// KV·hd].
	HeadMajor int
}

// at returns the offset of KV head g's row of position 0 in s.K and s.V,
// and the stride between positions.
func (s *AttnSeg) at(g, hd, kvd int) (off, ld int) {
	if s.HeadMajor > 0 {
		return g * s.HeadMajor, hd
	}
	return g * hd, kvd
}

// Attention computes causal grouped-query attention: query head h uses KV
// head h / (H/KV); token i of a segment attends to cache indices
// 0..Past+i, with scores scaled by 1/sqrt(hd) and a float32 softmax.
//
// Each work item is two register-tiled matrix products, scores = Q·Kᵀ
// (asm.MatMulF32) and out = P·V (asm.MatMulNNF32, over the cache's V
// rows as stored), so every key and value row is reused across
// several query rows instead of streamed once per (token, head). A
// one-token segment (decode, latent steps) has one item per KV head, whose
// rows are the query heads sharing it; a longer one (prefill) one item per
// head and block of attnBlock tokens. Either way a token's
// result depends only on its segment, never on the batch or the thread
// count.
type Attention struct {
	H, KV, HD int

	segs    []AttnSeg
	offs    []int       // prefix sums of work items over segs
	scratch [][]float32 // per-worker scores
}

// attnBlock is the number of a segment's tokens that share one pass over
// the cache.
const attnBlock = 32

// items is the number of work items of a segment: KV heads for one token,
// else heads × blocks.
func (a *Attention) items(s *AttnSeg) int {
	if s.N == 1 {
		return a.KV
	}
	return a.H * ((s.N + attnBlock - 1) / attnBlock)
}

// Compute runs all segments in parallel over their work items.
func (a *Attention) Compute(p *Pool, segs []AttnSeg) {
	a.segs = segs
	a.offs = a.offs[:0]
	total, need := 0, 0
	for i := range segs {
		s := &segs[i]
		a.offs = append(a.offs, total)
		total += a.items(s)
		ctx := s.Past + s.N
		kp := (ctx + 15) &^ 15
		need = max(need, max(attnBlock, a.H/a.KV)*kp)
	}
	for len(a.scratch) < p.Threads() {
		a.scratch = append(a.scratch, nil)
	}
	for w := range a.scratch {
		if cap(a.scratch[w]) < need {
			a.scratch[w] = make([]float32, need+need/2)
		}
	}
	p.Run(total, p.Grain(total, 1, 1), a)
	a.segs = nil
}

// Run implements Job over flattened (segment, item) pairs.
func (a *Attention) Run(worker, lo, hi int) {
	si := 0
	for it := lo; it < hi; it++ {
		for si+1 < len(a.offs) && a.offs[si+1] <= it {
			si++
		}
		s := &a.segs[si]
		r := it - a.offs[si]
		if s.N == 1 {
			a.group(worker, s, r)
		} else {
			nb := (s.N + attnBlock - 1) / attnBlock
			a.block(worker, s, r/nb, r%nb)
		}
	}
}

// group attends the single new token of s for the query heads of KV head
// g, which are contiguous in Q and Out: the same two products as block,
// with the group's heads as the rows.
func (a *Attention) group(worker int, s *AttnSeg, g int) {
	hd, kvd := a.HD, a.KV*a.HD
	rep := a.H / a.KV
	end := s.Past + 1
	kp := (end + 15) &^ 15
	sc := a.scratch[worker][:rep*kp]
	off, ld := s.at(g, hd, kvd)
	asm.MatMulF32(sc, kp, s.Q[g*rep*hd:], hd, s.K[off:], ld, rep, end, hd)
	a.softmaxRows(sc, kp, rep, end, 0)
	asm.MatMulNNF32(s.Out[g*rep*hd:], hd, sc, kp, s.V[off:], ld, rep, hd, end)
}

// softmaxRows scales and normalises rows of scores (stride kp, a multiple
// of 16 only to keep rows aligned; P·V reads the first end): row i sees
// causal+i keys (all end keys when causal is 0: rows of one token), and the
// rest of the row up to end is zeroed so that P·V adds exact zeros.
func (a *Attention) softmaxRows(sc []float32, kp, rows, end, causal int) {
	scale := float32(1 / math.Sqrt(float64(a.HD)))
	for i := 0; i < rows; i++ {
		ctx := end
		if causal > 0 {
			ctx = causal + i
		}
		row := sc[i*kp : (i+1)*kp]
		asm.ScaleF32(scale, row[:ctx])
		SoftmaxInPlace(row[:ctx])
		clear(row[ctx:end])
	}
}

// block attends tokens blk·attnBlock… of s for head h.
func (a *Attention) block(worker int, s *AttnSeg, h, blk int) {
	hd, kvd, qd := a.HD, a.KV*a.HD, a.H*a.HD
	g := h / (a.H / a.KV)
	t0 := blk * attnBlock
	t1 := min(s.N, t0+attnBlock)
	bt := t1 - t0
	end := s.Past + t1 // keys any token of the block sees
	kp := (end + 15) &^ 15
	sc := a.scratch[worker][:bt*kp]
	off, ld := s.at(g, hd, kvd)
	asm.MatMulF32(sc, kp, s.Q[t0*qd+h*hd:], qd, s.K[off:], ld, bt, end, hd)
	a.softmaxRows(sc, kp, bt, end, s.Past+t0+1)
	asm.MatMulNNF32(s.Out[t0*qd+h*hd:], qd, sc, kp, s.V[off:], ld, bt, hd, end)
}
