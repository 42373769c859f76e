package qwen

import (
	"errors"
	"fmt"

	"github.com/latentmas/latentmas/tensor"
)

// Seq is one sequence's input to a forward call: either token ids or input
// embeddings ([n, D], e.g. LatentMAS latent vectors), appended to Cache.
type Seq struct {
	Cache  *Cache
	IDs    []int
	Embeds []float32
}

// n is the number of new positions.
func (s *Seq) n(d int) int {
	if s.IDs != nil {
		return len(s.IDs)
	}
	return len(s.Embeds) / d
}

// LogitsMode selects which positions get logits.
type LogitsMode uint8

// Logits modes.
const (
	LogitsNone LogitsMode = iota // hidden states only (latent steps)
	LogitsLast                   // the last new position of each sequence
	LogitsAll                    // every new position
)

// Request selects the optional outputs of a forward call.
type Request struct {
	Logits       LogitsMode
	HiddenStates bool // per-layer hidden states, HF output_hidden_states
}

// Output holds a forward call's results. It belongs to the Model and is
// overwritten by the next Forward: copy what must outlive it.
//
// Rows of the [T, ·] arrays are the new positions of all sequences in
// order; sequence i owns rows Starts[i] ≤ r < Starts[i+1].
type Output struct {
	Starts  []int
	Hidden  []float32 // [T, D] after the final RMSNorm (what the LM head sees)
	PreNorm []float32 // [T, D] residual stream after the last layer
	// Logits is [T, V] for LogitsAll, [len(seqs), V] for LogitsLast.
	Logits []float32
	// HiddenStates[0] is the embeddings, [i] (1 ≤ i < L) the output of layer
	// i, [L] the final-norm output: exactly HF's output_hidden_states.
	HiddenStates [][]float32

	vocab, d int
}

// SetDims sets the vocabulary and hidden sizes that LastHidden and
// LogitsRow index by; backends that fill an Output themselves call it.
func (o *Output) SetDims(vocab, hidden int) { o.vocab, o.d = vocab, hidden }

// LastHidden is sequence i's post-norm hidden state at its last new position.
func (o *Output) LastHidden(i int) []float32 {
	r := o.Starts[i+1] - 1
	return o.Hidden[r*o.d : (r+1)*o.d]
}

// LogitsRow returns row r of Logits (a position for LogitsAll, a sequence for
// LogitsLast).
func (o *Output) LogitsRow(r int) []float32 { return o.Logits[r*o.vocab : (r+1)*o.vocab] }

// workspace is the scratch memory of a forward pass, grown on demand and
// reused, so steady-state decoding allocates nothing.
type workspace struct {
	x, h, q, k, v, a, g, u []float32
	cos, sin               []float32
	last                   []float32
	segs                   []tensor.AttnSeg

	// Options.BF16Activations: the bfloat16 copy of src, the input that
	// the next products share.
	xb  []uint16
	src []float32
}

// input declares x ([T, k]) the input of the products that follow; with
// bfloat16 activations it is rounded once here for all of them.
func (m *Model) input(x []float32) {
	if m.bf16Act {
		m.ws.xb = tensor.ToBF16(m.Pool, m.ws.xb, x)
		m.ws.src = x
	}
}

// matmul is tensor.MatMul, or tensor.MatMulBF16Act over the rounded input
// when bfloat16 activations are on and w is bfloat16.
func (m *Model) matmul(y, x []float32, T int, w *tensor.Mat) {
	m.matmuls(x, T, tensor.Product{Y: y, W: w})
}

// matmuls is matmul for several weights over the same input, in one
// parallel operation (tensor.MatMuls).
func (m *Model) matmuls(x []float32, T int, ps ...tensor.Product) {
	if m.bf16Act && ps[0].W.DType == tensor.BF16 {
		if len(m.ws.src) != T*ps[0].W.Cols || &m.ws.src[0] != &x[0] {
			panic("qwen: matmul input was not declared with input")
		}
		tensor.MatMulsBF16Act(m.Pool, m.ws.xb, T, ps...)
		return
	}
	tensor.MatMuls(m.Pool, x, T, ps...)
}

// grow returns b resliced to n, or a new slice with room to spare; a
// prefill's buffers (megabytes) are in huge pages, as the weights are.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return tensor.HugeF32(n + n/4)[:n]
	}
	return b[:n]
}

// Forward runs the model over new positions of one or more sequences at
// once (a ragged batch: each sequence has its own cache and length; there is
// no padding) and appends their keys and values to the caches. New tokens of
// a sequence get RoPE positions Cache.NextPos(), NextPos()+1, … and attend
// causally to everything in their own cache.
func (m *Model) Forward(seqs []Seq, req Request) (*Output, error) {
	if b := m.backend; b != nil {
		return b.Forward(seqs, req)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.Config
	D, V := c.HiddenSize, c.VocabSize
	qd, kvd, hd, I := c.QDim(), c.KVDim(), c.HeadDim, c.IntermediateSize
	eps := float32(c.RMSNormEps)

	// Validate and lay out the rows.
	o := &m.out
	o.vocab, o.d = V, D
	o.Starts = append(o.Starts[:0], 0)
	T := 0
	for i := range seqs {
		s := &seqs[i]
		if s.Cache == nil {
			return nil, fmt.Errorf("qwen: forward: sequence %d has no cache", i)
		}
		if s.Cache.layers != c.NumLayers || s.Cache.kvDim != kvd {
			return nil, fmt.Errorf("qwen: forward: sequence %d: cache was made for another model", i)
		}
		if (s.IDs == nil) == (s.Embeds == nil) {
			return nil, fmt.Errorf("qwen: forward: sequence %d needs exactly one of IDs and Embeds", i)
		}
		if s.Embeds != nil && len(s.Embeds)%D != 0 {
			return nil, fmt.Errorf("qwen: forward: sequence %d: %d embedding values is not a multiple of hidden size %d", i, len(s.Embeds), D)
		}
		for j, id := range s.IDs {
			if id < 0 || id >= m.Embed.Rows {
				return nil, fmt.Errorf("qwen: forward: sequence %d, position %d: token id %d out of range [0, %d)", i, j, id, m.Embed.Rows)
			}
		}
		n := s.n(D)
		if n == 0 {
			return nil, fmt.Errorf("qwen: forward: sequence %d has no new positions", i)
		}
		T += n
		o.Starts = append(o.Starts, T)
	}
	if T == 0 {
		return nil, errors.New("qwen: forward: no sequences")
	}

	w := &m.ws
	w.x = grow(w.x, T*D)
	w.h = grow(w.h, T*D)
	w.q = grow(w.q, T*qd)
	w.k = grow(w.k, T*kvd)
	w.v = grow(w.v, T*kvd)
	w.a = grow(w.a, T*qd)
	w.g = grow(w.g, T*I)
	w.u = grow(w.u, T*I)
	w.cos = grow(w.cos, T*hd/2)
	w.sin = grow(w.sin, T*hd/2)
	x := w.x

	// Embeddings and per-token RoPE tables (shared by all layers).
	for i := range seqs {
		s := &seqs[i]
		s.Cache.reserve(s.Cache.n + s.n(D))
		r0 := o.Starts[i]
		if s.IDs != nil {
			for j, id := range s.IDs {
				m.Embed.Row(id, x[(r0+j)*D:])
			}
		} else {
			copy(x[r0*D:], s.Embeds)
		}
		for j := 0; j < o.Starts[i+1]-r0; j++ {
			r := r0 + j
			m.rope.Table(s.Cache.NextPos()+j, w.cos[r*hd/2:(r+1)*hd/2], w.sin[r*hd/2:(r+1)*hd/2])
		}
	}
	if req.HiddenStates {
		o.HiddenStates = o.HiddenStates[:0]
		o.HiddenStates = append(o.HiddenStates, append([]float32(nil), x[:T*D]...))
	} else {
		o.HiddenStates = nil
	}

	p := m.Pool
	for l := range m.Layers {
		L := &m.Layers[l]

		// Attention block: h = norm(x); q,k,v projections.
		p.RMSNorm(w.h, x, T, L.AttnNorm, eps)
		m.input(w.h[:T*D])
		m.matmuls(w.h, T, tensor.Product{Y: w.q, W: &L.Q}, tensor.Product{Y: w.k, W: &L.K}, tensor.Product{Y: w.v, W: &L.V})
		if L.QBias != nil {
			p.AddBias(w.q, T, L.QBias)
			p.AddBias(w.k, T, L.KBias)
			p.AddBias(w.v, T, L.VBias)
		}
		if L.QNorm != nil { // Qwen3: per-head RMSNorm of q and k, before RoPE
			p.RMSNorm(w.q, w.q, T*c.NumHeads, L.QNorm, eps)
			p.RMSNorm(w.k, w.k, T*c.NumKVHeads, L.KNorm, eps)
		}
		p.Rope(w.q, c.NumHeads, w.k, c.NumKVHeads, hd, w.cos, w.sin, T)

		// Append k, v to each sequence's cache, then attend.
		w.segs = w.segs[:0]
		for i := range seqs {
			ca := seqs[i].Cache
			r0, r1 := o.Starts[i], o.Starts[i+1]
			n := r1 - r0
			ca.setRows(l, ca.n, n, w.k[r0*kvd:r1*kvd], w.v[r0*kvd:r1*kvd])
			w.segs = append(w.segs, tensor.AttnSeg{
				Q: w.q[r0*qd : r1*qd], Out: w.a[r0*qd : r1*qd],
				K: ca.k[l], V: ca.v[l], HeadMajor: ca.cap * hd,
				N: n, Past: ca.n,
			})
		}
		m.attn.Compute(p, w.segs)
		m.input(w.a[:T*qd])
		m.matmul(w.h, w.a, T, &L.O)
		p.Add(x[:T*D], w.h)

		// MLP block: x += down(silu(gate(h)) * up(h)), h = norm(x).
		p.RMSNorm(w.h, x, T, L.MLPNorm, eps)
		m.input(w.h[:T*D])
		m.matmuls(w.h, T, tensor.Product{Y: w.g, W: &L.Gate}, tensor.Product{Y: w.u, W: &L.Up})
		p.SiLUMul(w.g[:T*I], w.u)
		m.input(w.g[:T*I])
		m.matmul(w.h, w.g, T, &L.Down)
		p.Add(x[:T*D], w.h)

		if req.HiddenStates && l < len(m.Layers)-1 {
			o.HiddenStates = append(o.HiddenStates, append([]float32(nil), x[:T*D]...))
		}
	}
	for i := range seqs {
		seqs[i].Cache.n += o.Starts[i+1] - o.Starts[i]
	}

	o.PreNorm = x[:T*D]
	p.RMSNorm(w.h, x, T, m.Norm, eps)
	o.Hidden = w.h[:T*D]
	if req.HiddenStates {
		o.HiddenStates = append(o.HiddenStates, append([]float32(nil), o.Hidden...))
	}

	switch req.Logits {
	case LogitsAll:
		o.Logits = grow(o.Logits, T*V)
		m.input(o.Hidden)
		m.matmul(o.Logits, o.Hidden, T, &m.LMHead)
	case LogitsLast:
		B := len(seqs)
		w.last = grow(w.last, B*D)
		for i := 0; i < B; i++ {
			copy(w.last[i*D:(i+1)*D], o.LastHidden(i))
		}
		o.Logits = grow(o.Logits, B*V)
		m.input(w.last[:B*D])
		m.matmul(o.Logits, w.last, B, &m.LMHead)
	default:
		o.Logits = o.Logits[:0]
	}
	return o, nil
}
