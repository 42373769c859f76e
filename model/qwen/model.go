// Package qwen implements the Hugging Face Qwen2 / Qwen2.5 / Qwen3
// decoder-only transformer: config parsing, weight binding from safetensors
// checkpoints (weights stay memory-mapped in their stored dtype), and a
// forward pass over token ids or input embeddings that appends to per-
// sequence KV caches. It reports logits, the post-final-norm hidden state,
// the pre-norm residual and per-layer hidden states in Hugging Face's
// output_hidden_states convention.
//
// The whole forward pass is in forward.go, top to bottom. The package knows
// nothing about tokenizers, prompts or LatentMAS; it uses tensor for the
// numeric work and safetensors for the files.
package qwen

import (
	"fmt"
	"sync"

	"github.com/latentmas/latentmas/safetensors"
	"github.com/latentmas/latentmas/tensor"
)

// TensorSource yields checkpoint tensors by name; *safetensors.Checkpoint is
// one, and tests or benchmarks can provide in-memory ones.
type TensorSource interface {
	Tensor(name string) (*safetensors.Tensor, error)
}

// Layer holds one decoder layer's weights. Matrices are views in their
// stored dtype; norm weights and biases are small and held as float32.
type Layer struct {
	AttnNorm, MLPNorm   []float32 // [D]
	Q, K, V, O          tensor.Mat
	QBias, KBias, VBias []float32 // nil without qkv bias
	QNorm, KNorm        []float32 // [hd], Qwen3 only
	Gate, Up, Down      tensor.Mat
}

// Model is a loaded Qwen checkpoint ready to run. Forward calls are
// serialised internally: one Model runs one forward pass at a time, each
// spread over Pool's workers.
type Model struct {
	Config *Config
	Embed  tensor.Mat // [V, D] input embeddings (W_in)
	LMHead tensor.Mat // [V, D] output projection (W_out); the same view as Embed when tied
	Norm   []float32  // final RMSNorm weight
	Layers []Layer
	Pool   *tensor.Pool

	rope *tensor.Rope
	attn tensor.Attention

	backend Forwarder // when set, Forward runs there (e.g. Vulkan)
	bf16Act bool      // Options.BF16Activations
	huge    bool      // the weights are in huge pages (Options.HugePages)

	mu    sync.Mutex
	ws    workspace
	out   Output
	close func() error
}

// Forwarder runs forward passes with Model.Forward's semantics; a compute
// backend (such as the Vulkan one) implements it.
type Forwarder interface {
	Forward(seqs []Seq, req Request) (*Output, error)
}

// BF16Activations reports whether Options.BF16Activations is in effect
// (asked for, and the weights are bfloat16).
func (m *Model) BF16Activations() bool { return m.bf16Act }

// HugePages reports whether Load or NewRandom put the weights in huge-page
// memory (Options.HugePages).
func (m *Model) HugePages() bool { return m.huge }

// SetBackend makes Forward run on b (nil: back to the CPU), so everything
// built on the model — latent rollouts, generation, the methods — uses it.
// The backend must compute with its own code, never through m.Forward.
func (m *Model) SetBackend(b Forwarder) { m.backend = b }

// Options configure loading.
type Options struct {
	Threads int // worker threads; ≤ 0 means all cores

	// BF16Activations rounds the input of every matrix product over
	// bfloat16 weights to bfloat16, as a bfloat16 PyTorch model does, so
	// both operands are bfloat16 and the product runs on VDPBF16PS where
	// the CPU has it (AVX512_BF16): about twice the float32 FMA rate for
	// prefill on AMD Zen 4/5, where VDPBF16PS issues as fast as FMA (on
	// Intel Sapphire Rapids it issues at half that rate, so no faster than
	// float32), and fewer instructions per weight byte for decode. Off by
	// default: results then differ from the float32 path (and from the
	// float32 golden outputs) by that rounding. Results still never depend
	// on batching or threads. Other weight dtypes ignore it.
	BF16Activations bool

	// HugePages makes Load copy the weights out of the memory-mapped
	// checkpoint into one private slab advised for transparent huge pages
	// (Linux; elsewhere a plain copy) and unmap the files, and NewRandom
	// make its weights there. A decode step
	// streams every weight once; in 4 KiB pages that is a TLB miss per
	// page, and on a VM (nested paging) those page walks are what a busy
	// neighbour slows most: Qwen2.5-0.5B decode on a 2-core Firecracker VM
	// ran 15–20% faster on average, up to twice as fast in loud minutes. It
	// costs a copy at load and the model's size in private memory, which
	// the page cache no longer shares with other processes. Off by default.
	HugePages bool
}

// Load opens the checkpoint in dir (config.json plus model.safetensors or a
// sharded model.safetensors.index.json) and binds its weights.
func Load(dir string, opt Options) (*Model, error) {
	cfg, err := ParseConfig(dir)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	var src TensorSource = ck
	if opt.HugePages {
		hs, err := copyToHuge(ck)
		ck.Close() // the copies are all the model uses
		if err != nil {
			return nil, fmt.Errorf("qwen: %s: %w", dir, err)
		}
		src = hs
	}
	m, err := New(cfg, src, opt)
	if err != nil {
		if !opt.HugePages {
			ck.Close()
		}
		return nil, fmt.Errorf("qwen: %s: %w", dir, err)
	}
	if !opt.HugePages {
		m.close = ck.Close
	}
	m.huge = opt.HugePages
	return m, nil
}

// copyToHuge copies every tensor of ck into one huge-page slab, each on a
// cache line, in the checkpoint's order (Options.HugePages).
func copyToHuge(ck *safetensors.Checkpoint) (MemSource, error) {
	names := ck.Names()
	ts := make([]*safetensors.Tensor, len(names))
	size := 0
	for i, name := range names {
		t, err := ck.Tensor(name)
		if err != nil {
			return nil, err
		}
		ts[i] = t
		size += (len(t.Data) + 63) &^ 63
	}
	slab := tensor.HugeBytes(size)
	src := make(MemSource, len(ts))
	off := 0
	for _, t := range ts {
		c := *t
		n := len(t.Data)
		c.Data = slab[off : off+n : off+n]
		copy(c.Data, t.Data)
		src[t.Name] = &c
		off += (n + 63) &^ 63
	}
	return src, nil
}

// New binds a model from any tensor source. The source must stay valid (its
// memory mapped) while the model is used.
func New(cfg *Config, src TensorSource, opt Options) (*Model, error) {
	m := &Model{Config: cfg}
	D, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	qd, kvd, hd := cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	b := binder{src: src}
	m.Embed = b.mat("model.embed_tokens.weight", V, D)
	if cfg.TieWordEmbeddings {
		m.LMHead = m.Embed
	} else {
		m.LMHead = b.mat("lm_head.weight", V, D)
	}
	m.Norm = b.vec("model.norm.weight", D)
	m.Layers = make([]Layer, cfg.NumLayers)
	for i := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		L := &m.Layers[i]
		L.AttnNorm = b.vec(p+"input_layernorm.weight", D)
		L.MLPNorm = b.vec(p+"post_attention_layernorm.weight", D)
		L.Q = b.mat(p+"self_attn.q_proj.weight", qd, D)
		L.K = b.mat(p+"self_attn.k_proj.weight", kvd, D)
		L.V = b.mat(p+"self_attn.v_proj.weight", kvd, D)
		L.O = b.mat(p+"self_attn.o_proj.weight", D, qd)
		if cfg.QKVBias {
			L.QBias = b.vec(p+"self_attn.q_proj.bias", qd)
			L.KBias = b.vec(p+"self_attn.k_proj.bias", kvd)
			L.VBias = b.vec(p+"self_attn.v_proj.bias", kvd)
		}
		if cfg.QKNorm {
			L.QNorm = b.vec(p+"self_attn.q_norm.weight", hd)
			L.KNorm = b.vec(p+"self_attn.k_norm.weight", hd)
		}
		L.Gate = b.mat(p+"mlp.gate_proj.weight", I, D)
		L.Up = b.mat(p+"mlp.up_proj.weight", I, D)
		L.Down = b.mat(p+"mlp.down_proj.weight", D, I)
		if b.err != nil {
			break
		}
	}
	if b.err != nil {
		return nil, b.err
	}
	m.rope = tensor.NewRope(hd, cfg.RopeTheta)
	m.attn = tensor.Attention{H: cfg.NumHeads, KV: cfg.NumKVHeads, HD: hd}
	m.Pool = tensor.NewPool(opt.Threads)
	// Only bf16 weights have a bf16 product; other checkpoints ignore it.
	m.bf16Act = opt.BF16Activations && len(m.Layers) > 0 && m.Layers[0].Q.DType == tensor.BF16
	return m, nil
}

// Close releases the worker pool and unmaps the checkpoint.
func (m *Model) Close() error {
	m.Pool.Close()
	if m.close != nil {
		return m.close()
	}
	return nil
}

// WeightBytes is the size of all weight matrices as stored (what one decode
// step must read), counting a tied embedding once.
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, w := range m.WeightMats() {
		n += w.Bytes()
	}
	return n
}

// WeightMats lists the weight matrices one decode step reads, in the
// order it reads them (each layer's, then the output projection, a tied
// embedding once). The norms' small vectors are left out.
func (m *Model) WeightMats() []*tensor.Mat {
	ws := make([]*tensor.Mat, 0, 7*len(m.Layers)+1)
	for i := range m.Layers {
		L := &m.Layers[i]
		ws = append(ws, &L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down)
	}
	return append(ws, &m.LMHead)
}

// binder looks tensors up and checks their shapes, keeping the first error.
type binder struct {
	src TensorSource
	err error
}

func (b *binder) get(name string, shape ...int) *safetensors.Tensor {
	if b.err != nil {
		return nil
	}
	t, err := b.src.Tensor(name)
	if err != nil {
		b.err = err
		return nil
	}
	ok := len(t.Shape) == len(shape)
	for i := 0; ok && i < len(shape); i++ {
		ok = t.Shape[i] == shape[i]
	}
	if !ok {
		b.err = fmt.Errorf("tensor %q in %s has shape %v, config.json implies %v", name, t.File, t.Shape, shape)
		return nil
	}
	return t
}

func (b *binder) mat(name string, rows, cols int) tensor.Mat {
	t := b.get(name, rows, cols)
	if t == nil {
		return tensor.Mat{}
	}
	m := tensor.Mat{Rows: rows, Cols: cols}
	var err error
	switch t.DType {
	case safetensors.F32:
		m.DType = tensor.F32
		m.F32, err = t.F32()
	case safetensors.BF16:
		m.DType = tensor.BF16
		m.U16, err = t.U16()
	case safetensors.F16:
		m.DType = tensor.F16
		m.U16, err = t.U16()
	default:
		err = fmt.Errorf("tensor %q in %s has dtype %s; only F32, BF16 and F16 are supported", name, t.File, t.DType)
	}
	if err != nil {
		b.err = err
	}
	return m
}

func (b *binder) vec(name string, n int) []float32 {
	t := b.get(name, n)
	if t == nil {
		return nil
	}
	v, err := t.ToF32()
	if err != nil {
		b.err = err
	}
	return v
}
