//go:build vulkan

package qwenvk

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"weak"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
	"github.com/latentmas/latentmas/tensor/vulkan"
)

// Model is a qwen.Model whose weights live on a Vulkan device. Forward calls
// are serialised; the device must not be used by others meanwhile.
type Model struct {
	M   *qwen.Model
	Dev *vulkan.Device

	mu     sync.Mutex
	s      *vulkan.Stream
	rope   *tensor.Rope
	layers []layer
	lmHead *vulkan.Mat
	small  *vulkan.Buffer // norm weights and biases, packed
	norm   int            // offset of the final norm weight in small

	wsCap                             int // rows the activation buffers hold
	x, h, q, k, v, a, g, u, tab, last *vulkan.Buffer
	logits, scratch                   *vulkan.Buffer
	hs                                []*vulkan.Buffer
	mirrors                           map[weak.Pointer[qwen.Cache]]*mirror

	out                       qwen.Output
	hx, tabHost, kHost, vHost []float32
	newK, newV                [][]float32
}

type layer struct {
	q, k, v, o, gate, up, down            *vulkan.Mat
	attnNorm, mlpNorm, qb, kb, vb, qn, kn int // offsets into small; -1 when absent
}

// mirror is the device copy of one host cache: per layer a buffer holding
// keys [cap, kvd] then values [cap, kvd].
type mirror struct {
	layers []*vulkan.Buffer
	cap, n int
	fp     []float32 // first and last key/value rows of every layer at n
}

// New uploads m's weights to dev. The model stays usable on the CPU.
func New(m *qwen.Model, dev *vulkan.Device) (*Model, error) {
	if m == nil || dev == nil {
		return nil, errors.New("qwenvk: New needs a model and a device")
	}
	c := m.Config
	if c.HeadDim > 256 {
		return nil, fmt.Errorf("qwenvk: head_dim %d > 256 is not supported by the attention kernel", c.HeadDim)
	}
	vm := &Model{M: m, Dev: dev, rope: tensor.NewRope(c.HeadDim, c.RopeTheta), mirrors: map[weak.Pointer[qwen.Cache]]*mirror{}}
	if err := setDims(&vm.out, c.VocabSize, c.HiddenSize); err != nil {
		return nil, err
	}
	var err error
	if vm.s, err = dev.NewStream(); err != nil {
		return nil, err
	}
	var small []float32
	put := func(v []float32) int {
		if v == nil {
			return -1
		}
		off := len(small)
		small = append(small, v...)
		return off
	}
	up := func(w *tensor.Mat) *vulkan.Mat {
		if err != nil {
			return nil
		}
		var d *vulkan.Mat
		d, err = dev.UploadMat(w)
		return d
	}
	vm.norm = put(m.Norm)
	vm.layers = make([]layer, len(m.Layers))
	for i := range m.Layers {
		L, d := &m.Layers[i], &vm.layers[i]
		d.attnNorm, d.mlpNorm = put(L.AttnNorm), put(L.MLPNorm)
		d.qb, d.kb, d.vb = put(L.QBias), put(L.KBias), put(L.VBias)
		d.qn, d.kn = put(L.QNorm), put(L.KNorm)
		d.q, d.k, d.v, d.o = up(&L.Q), up(&L.K), up(&L.V), up(&L.O)
		d.gate, d.up, d.down = up(&L.Gate), up(&L.Up), up(&L.Down)
	}
	vm.lmHead = up(&m.LMHead)
	if err == nil {
		vm.small, err = dev.UploadF32(small)
	}
	if err != nil {
		vm.Close()
		return nil, fmt.Errorf("qwenvk: uploading weights to %s: %w", dev.Info().Name, err)
	}
	return vm, nil
}

// setDims fills the Output's sizes for LastHidden and LogitsRow.
func setDims(o *qwen.Output, vocab, d int) error {
	o.SetDims(vocab, d)
	return nil
}

// Close frees the model's device memory (not the device, nor the CPU model).
func (vm *Model) Close() {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for _, L := range vm.layers {
		for _, w := range []*vulkan.Mat{L.q, L.k, L.v, L.o, L.gate, L.up, L.down} {
			if w != nil {
				w.Free()
			}
		}
	}
	vm.layers = nil
	if vm.lmHead != nil {
		vm.lmHead.Free()
	}
	for _, b := range []*vulkan.Buffer{vm.small, vm.x, vm.h, vm.q, vm.k, vm.v, vm.a, vm.g, vm.u, vm.tab, vm.last, vm.logits, vm.scratch} {
		b.Free()
	}
	for _, b := range vm.hs {
		b.Free()
	}
	for k, mr := range vm.mirrors {
		mr.free()
		delete(vm.mirrors, k)
	}
	if vm.s != nil {
		vm.s.Close()
	}
}

// WeightBytes is the device memory the weights occupy.
func (vm *Model) WeightBytes() int64 {
	n := vm.lmHead.Bytes()
	for _, L := range vm.layers {
		for _, w := range []*vulkan.Mat{L.q, L.k, L.v, L.o, L.gate, L.up, L.down} {
			n += w.Bytes()
		}
	}
	return n
}

// Invalidate drops the device mirror of c, so the next forward uploads it
// again; needed only after host-side edits that keep its length and its
// first and last rows (see the package comment).
func (vm *Model) Invalidate(c *qwen.Cache) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if mr := vm.mirrors[weak.Make(c)]; mr != nil {
		mr.free()
		delete(vm.mirrors, weak.Make(c))
	}
}

func (mr *mirror) free() {
	for _, b := range mr.layers {
		b.Free()
	}
	mr.layers = nil
}

// grow makes b hold at least n floats (contents are not kept).
func (vm *Model) grow(b **vulkan.Buffer, n int) error {
	if *b != nil && (*b).Size() >= int64(4*n) {
		return nil
	}
	(*b).Free()
	nb, err := vm.Dev.NewBuffer(int64(4 * max(n, 1)))
	if err != nil {
		return err
	}
	*b = nb
	return nil
}

func (vm *Model) workspace(T int) error {
	c := vm.M.Config
	if T > vm.wsCap {
		rows := max(T, vm.wsCap+vm.wsCap/2)
		D, qd, kvd, I := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
		for _, s := range []struct {
			b **vulkan.Buffer
			n int
		}{{&vm.x, D}, {&vm.h, D}, {&vm.q, qd}, {&vm.k, kvd}, {&vm.v, kvd}, {&vm.a, qd}, {&vm.g, I}, {&vm.u, I}, {&vm.tab, c.HeadDim}} {
			if err := vm.grow(s.b, rows*s.n); err != nil {
				return err
			}
		}
		vm.wsCap = rows
	}
	return nil
}

// fingerprint copies the first and last key and value rows of every layer.
func fingerprint(dst []float32, c *qwen.Cache) []float32 {
	dst = dst[:0]
	n, kvd := c.Len(), c.KVDim()
	if n == 0 {
		return dst
	}
	for l := 0; l < c.Layers(); l++ {
		o := len(dst)
		dst = slices.Grow(dst, 4*kvd)[:o+4*kvd]
		f := dst[o:]
		c.Pos(l, 0, f[:kvd], f[2*kvd:3*kvd])
		c.Pos(l, n-1, f[kvd:2*kvd], f[3*kvd:])
	}
	return dst
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) { // NaN == NaN here
			return false
		}
	}
	return true
}

// sync makes the mirror of c hold c's current positions with room for add
// more, uploading from the host unless the mirror is known to match.
func (vm *Model) sync(c *qwen.Cache, add int) (*mirror, error) {
	key := weak.Make(c)
	mr := vm.mirrors[key]
	if mr == nil {
		// Drop mirrors of caches the program no longer holds.
		for k, m := range vm.mirrors {
			if k.Value() == nil {
				m.free()
				delete(vm.mirrors, k)
			}
		}
		mr = &mirror{}
		vm.mirrors[key] = mr
	}
	n, kvd, L := c.Len(), c.KVDim(), c.Layers()
	need := n + add
	vm.kHost = fingerprint(vm.kHost, c)
	valid := mr.layers != nil && mr.n == n && equal(mr.fp, vm.kHost)
	if need > mr.cap {
		nc := max(need, mr.cap*2, 64)
		if lim := int(vm.Dev.Info().MaxStorageBufferRange) / (8 * kvd); lim > 0 && nc > lim {
			nc = max(need, lim)
		}
		mr.free()
		mr.layers = make([]*vulkan.Buffer, L)
		for l := range mr.layers {
			b, err := vm.Dev.NewBuffer(int64(8 * nc * kvd))
			if err != nil {
				mr.free()
				delete(vm.mirrors, key)
				return nil, fmt.Errorf("qwenvk: KV cache of %d positions on %s: %w", nc, vm.Dev.Info().Name, err)
			}
			mr.layers[l] = b
		}
		mr.cap, valid = nc, false
	}
	if !valid {
		for l := 0; l < L; l++ {
			k, v := c.Layer(l)
			if err := mr.layers[l].WriteF32(0, k); err != nil {
				return nil, err
			}
			if err := mr.layers[l].WriteF32(mr.cap*kvd, v); err != nil {
				return nil, err
			}
		}
		mr.n = n
	}
	return mr, nil
}

// Forward runs the model on the device over new positions of one or more
// sequences, with qwen.Model.Forward's semantics: ragged batch, RoPE
// positions from Cache.NextPos, keys and values appended to the caches, the
// outputs req asks for. The Output belongs to vm and is overwritten by the
// next call.
func (vm *Model) Forward(seqs []qwen.Seq, req qwen.Request) (*qwen.Output, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	c := vm.M.Config
	D, V := c.HiddenSize, c.VocabSize
	H, KVH, hd := c.NumHeads, c.NumKVHeads, c.HeadDim
	qd, kvd, I := c.QDim(), c.KVDim(), c.IntermediateSize
	nL := len(vm.layers)
	eps := float32(c.RMSNormEps)
	o := &vm.out

	o.Starts = append(o.Starts[:0], 0)
	T := 0
	for i := range seqs {
		sq := &seqs[i]
		if sq.Cache == nil {
			return nil, fmt.Errorf("qwenvk: forward: sequence %d has no cache", i)
		}
		if sq.Cache.Layers() != nL || sq.Cache.KVDim() != kvd {
			return nil, fmt.Errorf("qwenvk: forward: sequence %d: cache was made for another model", i)
		}
		if (sq.IDs == nil) == (sq.Embeds == nil) {
			return nil, fmt.Errorf("qwenvk: forward: sequence %d needs exactly one of IDs and Embeds", i)
		}
		if sq.Embeds != nil && len(sq.Embeds)%D != 0 {
			return nil, fmt.Errorf("qwenvk: forward: sequence %d: %d embedding values is not a multiple of hidden size %d", i, len(sq.Embeds), D)
		}
		for j, id := range sq.IDs {
			if id < 0 || id >= vm.M.Embed.Rows {
				return nil, fmt.Errorf("qwenvk: forward: sequence %d, position %d: token id %d out of range [0, %d)", i, j, id, vm.M.Embed.Rows)
			}
		}
		n := len(sq.IDs)
		if sq.Embeds != nil {
			n = len(sq.Embeds) / D
		}
		if n == 0 {
			return nil, fmt.Errorf("qwenvk: forward: sequence %d has no new positions", i)
		}
		T += n
		o.Starts = append(o.Starts, T)
	}
	if T == 0 {
		return nil, errors.New("qwenvk: forward: no sequences")
	}
	for i := range seqs {
		for j := 0; j < i; j++ {
			if seqs[i].Cache == seqs[j].Cache {
				return nil, fmt.Errorf("qwenvk: forward: sequences %d and %d share a cache", j, i)
			}
		}
	}
	if err := vm.workspace(T); err != nil {
		return nil, err
	}
	mirrors := make([]*mirror, len(seqs))
	maxCtx := 0
	for i := range seqs {
		n := o.Starts[i+1] - o.Starts[i]
		mr, err := vm.sync(seqs[i].Cache, n)
		if err != nil {
			return nil, err
		}
		mirrors[i] = mr
		maxCtx = max(maxCtx, seqs[i].Cache.Len()+n)
	}

	// Embeddings and RoPE tables on the host, uploaded once.
	half := hd / 2
	vm.hx = growF(vm.hx, T*D)
	vm.tabHost = growF(vm.tabHost, T*hd)
	cs, sn := vm.tabHost[:T*half], vm.tabHost[T*half:]
	for i := range seqs {
		sq, r0 := &seqs[i], o.Starts[i]
		if sq.IDs != nil {
			for j, id := range sq.IDs {
				vm.M.Embed.Row(id, vm.hx[(r0+j)*D:])
			}
		} else {
			copy(vm.hx[r0*D:], sq.Embeds)
		}
		for j := 0; j < o.Starts[i+1]-r0; j++ {
			r := r0 + j
			vm.rope.Table(sq.Cache.NextPos()+j, cs[r*half:(r+1)*half], sn[r*half:(r+1)*half])
		}
	}
	if err := vm.x.WriteF32(0, vm.hx); err != nil {
		return nil, err
	}
	if err := vm.tab.WriteF32(0, vm.tabHost); err != nil {
		return nil, err
	}
	// Attention scratch: the largest chunk of query rows times heads times
	// context, capped by the storage-buffer range; longer prompts are
	// attended in chunks of query rows.
	scratchCap := min(T*H*maxCtx, int(vm.Dev.Info().MaxStorageBufferRange/4))
	if err := vm.grow(&vm.scratch, scratchCap); err != nil {
		return nil, err
	}
	scratchCap = int(vm.scratch.Size() / 4)
	if req.HiddenStates {
		for len(vm.hs) < nL+1 {
			vm.hs = append(vm.hs, nil)
		}
		for i := range vm.hs[:nL+1] {
			if err := vm.grow(&vm.hs[i], T*D); err != nil {
				return nil, err
			}
		}
	}
	switch req.Logits {
	case qwen.LogitsAll:
		if err := vm.grow(&vm.logits, T*V); err != nil {
			return nil, err
		}
	case qwen.LogitsLast:
		if err := vm.grow(&vm.logits, len(seqs)*V); err != nil {
			return nil, err
		}
		if err := vm.grow(&vm.last, len(seqs)*D); err != nil {
			return nil, err
		}
	}

	s, sm := vm.s, vm.small
	bias := func(off int) (*vulkan.Buffer, int) {
		if off < 0 {
			return nil, 0
		}
		return sm, off
	}
	if req.HiddenStates {
		s.CopyF32(vm.hs[0], 0, vm.x, 0, T*D)
	}
	for l := range vm.layers {
		L := &vm.layers[l]
		s.RMSNorm(vm.h, 0, vm.x, 0, T, D, sm, L.attnNorm, eps)
		b, bo := bias(L.qb)
		s.MatMul(vm.q, 0, vm.h, 0, T, L.q, b, bo, false)
		s.Concurrent()
		b, bo = bias(L.kb)
		s.MatMul(vm.k, 0, vm.h, 0, T, L.k, b, bo, false)
		s.Concurrent()
		b, bo = bias(L.vb)
		s.MatMul(vm.v, 0, vm.h, 0, T, L.v, b, bo, false)
		if L.qn >= 0 {
			s.RMSNorm(vm.q, 0, vm.q, 0, T*H, hd, sm, L.qn, eps)
			s.Concurrent()
			s.RMSNorm(vm.k, 0, vm.k, 0, T*KVH, hd, sm, L.kn, eps)
		}
		s.Rope(vm.q, 0, T, H, hd, qd, vm.tab, T*half)
		s.Concurrent()
		s.Rope(vm.k, 0, T, KVH, hd, kvd, vm.tab, T*half)
		for i := range seqs {
			mr, past := mirrors[i], seqs[i].Cache.Len()
			r0, n := o.Starts[i], o.Starts[i+1]-o.Starts[i]
			s.CopyF32(mr.layers[l], past*kvd, vm.k, r0*kvd, n*kvd)
			s.Concurrent()
			s.CopyF32(mr.layers[l], (mr.cap+past)*kvd, vm.v, r0*kvd, n*kvd)
		}
		for i := range seqs {
			mr, past := mirrors[i], seqs[i].Cache.Len()
			r0, n := o.Starts[i], o.Starts[i+1]-o.Starts[i]
			rows := max(1, min(n, scratchCap/(H*(past+n))))
			for j0 := 0; j0 < n; j0 += rows {
				j1 := min(n, j0+rows)
				s.Attention(vulkan.AttnArgs{Q: vm.q, KV: mr.layers[l], Out: vm.a, Scratch: vm.scratch,
					QOff: (r0 + j0) * qd, KOff: 0, VOff: mr.cap * kvd, OOff: (r0 + j0) * qd,
					N: j1 - j0, Past: past + j0, H: H, KVH: KVH, HD: hd})
			}
		}
		s.MatMul(vm.x, 0, vm.a, 0, T, L.o, nil, 0, true)
		s.RMSNorm(vm.h, 0, vm.x, 0, T, D, sm, L.mlpNorm, eps)
		s.MatMul(vm.g, 0, vm.h, 0, T, L.gate, nil, 0, false)
		s.Concurrent()
		s.MatMul(vm.u, 0, vm.h, 0, T, L.up, nil, 0, false)
		s.SiLUMul(vm.g, 0, vm.u, 0, T*I)
		s.MatMul(vm.x, 0, vm.g, 0, T, L.down, nil, 0, true)
		if req.HiddenStates && l < nL-1 {
			s.CopyF32(vm.hs[l+1], 0, vm.x, 0, T*D)
		}
	}
	s.RMSNorm(vm.h, 0, vm.x, 0, T, D, sm, vm.norm, eps)
	switch req.Logits {
	case qwen.LogitsAll:
		s.MatMul(vm.logits, 0, vm.h, 0, T, vm.lmHead, nil, 0, false)
	case qwen.LogitsLast:
		for i := range seqs {
			if i > 0 {
				s.Concurrent()
			}
			s.CopyF32(vm.last, i*D, vm.h, (o.Starts[i+1]-1)*D, D)
		}
		s.MatMul(vm.logits, 0, vm.last, 0, len(seqs), vm.lmHead, nil, 0, false)
	}
	if err := s.Run(); err != nil {
		// The mirrors may hold partial rows past each cache's length; the
		// host caches are unchanged, so the next call re-syncs.
		for _, mr := range mirrors {
			mr.n = -1
		}
		return nil, fmt.Errorf("qwenvk: forward on %s: %w", vm.Dev.Info().Name, err)
	}

	// Bring back what was asked for, and the new KV rows into the caches.
	o.Hidden = growF(o.Hidden, T*D)
	o.PreNorm = growF(o.PreNorm, T*D)
	if err := vm.h.ReadF32(0, o.Hidden); err != nil {
		return nil, err
	}
	if err := vm.x.ReadF32(0, o.PreNorm); err != nil {
		return nil, err
	}
	if req.HiddenStates {
		o.HiddenStates = o.HiddenStates[:0]
		for i := 0; i < nL; i++ {
			h := make([]float32, T*D)
			if err := vm.hs[i].ReadF32(0, h); err != nil {
				return nil, err
			}
			o.HiddenStates = append(o.HiddenStates, h)
		}
		o.HiddenStates = append(o.HiddenStates, append([]float32(nil), o.Hidden...))
	} else {
		o.HiddenStates = nil
	}
	switch req.Logits {
	case qwen.LogitsAll:
		o.Logits = growF(o.Logits, T*V)
	case qwen.LogitsLast:
		o.Logits = growF(o.Logits, len(seqs)*V)
	default:
		o.Logits = o.Logits[:0]
	}
	if len(o.Logits) > 0 {
		if err := vm.logits.ReadF32(0, o.Logits); err != nil {
			return nil, err
		}
	}
	for len(vm.newK) < nL {
		vm.newK, vm.newV = append(vm.newK, nil), append(vm.newV, nil)
	}
	for i := range seqs {
		ca, mr := seqs[i].Cache, mirrors[i]
		past, n := ca.Len(), o.Starts[i+1]-o.Starts[i]
		for l := 0; l < nL; l++ {
			vm.newK[l] = growF(vm.newK[l], n*kvd)
			vm.newV[l] = growF(vm.newV[l], n*kvd)
			if err := mr.layers[l].ReadF32(past*kvd, vm.newK[l]); err != nil {
				return nil, err
			}
			if err := mr.layers[l].ReadF32((mr.cap+past)*kvd, vm.newV[l]); err != nil {
				return nil, err
			}
		}
		if err := ca.AppendKV(vm.newK[:nL], vm.newV[:nL], n); err != nil {
			return nil, err
		}
		mr.n = ca.Len()
		mr.fp = fingerprint(mr.fp, ca)
	}
	return o, nil
}

func growF(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n, n+n/4)
	}
	return b[:n]
}
