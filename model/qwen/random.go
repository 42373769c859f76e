package qwen

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/latentmas/latentmas/safetensors"
	"github.com/latentmas/latentmas/tensor"
)

// Shapes are the architectures of real Qwen checkpoints, for benchmarks and
// demos with random weights (keys are lower-case model names).
var Shapes = map[string]Config{
	"qwen2.5-0.5b": {ModelType: "qwen2", HiddenSize: 896, NumLayers: 24, NumHeads: 14, NumKVHeads: 2, HeadDim: 64,
		IntermediateSize: 4864, VocabSize: 151936, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: true, QKVBias: true},
	"qwen3-0.6b": {ModelType: "qwen3", HiddenSize: 1024, NumLayers: 28, NumHeads: 16, NumKVHeads: 8, HeadDim: 128,
		IntermediateSize: 3072, VocabSize: 151936, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: true, QKNorm: true},
	"qwen3-4b": {ModelType: "qwen3", HiddenSize: 2560, NumLayers: 36, NumHeads: 32, NumKVHeads: 8, HeadDim: 128,
		IntermediateSize: 9728, VocabSize: 151936, RMSNormEps: 1e-6, RopeTheta: 1e6, TieWordEmbeddings: true, QKNorm: true},
}

// Shape returns a copy of a named shape, or an error listing the known ones.
func Shape(name string) (*Config, error) {
	c, ok := Shapes[strings.ToLower(name)]
	if !ok {
		names := make([]string, 0, len(Shapes))
		for n := range Shapes {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown model shape %q (known: %s)", name, strings.Join(names, ", "))
	}
	c.HiddenAct = "silu"
	return &c, nil
}

// MemSource is an in-memory TensorSource.
type MemSource map[string]*safetensors.Tensor

// Tensor implements TensorSource.
func (s MemSource) Tensor(name string) (*safetensors.Tensor, error) {
	t, ok := s[name]
	if !ok {
		return nil, fmt.Errorf("in-memory checkpoint: no tensor %q", name)
	}
	return t, nil
}

// RandomSource makes deterministic random weights for cfg in dtype: matrices
// uniform with standard deviation std, norm weights 1 + small noise, biases
// small. It is for benchmarks, demos and tests, not for meaningful output.
func RandomSource(cfg *Config, dtype tensor.DType, std float64, seed uint64) MemSource {
	return randomSource(cfg, dtype, std, seed, false)
}

// randomSource is RandomSource, in huge pages if huge (Options.HugePages).
func randomSource(cfg *Config, dtype tensor.DType, std float64, seed uint64, huge bool) MemSource {
	D, V, I := cfg.HiddenSize, cfg.VocabSize, cfg.IntermediateSize
	qd, kvd, hd := cfg.QDim(), cfg.KVDim(), cfg.HeadDim
	src := MemSource{}
	rng := seed*0x9E3779B97F4A7C15 + 1
	next := func() float32 { // xorshift64*, uniform in [-1, 1)
		rng ^= rng >> 12
		rng ^= rng << 25
		rng ^= rng >> 27
		return float32(int64(rng*0x2545F4914F6CDD1D)>>40) / (1 << 23)
	}
	// The tensors are laid out in one slab, as in a checkpoint file, in
	// huge pages if asked (see Options.HugePages).
	type spec struct {
		t              *safetensors.Tensor
		dt             tensor.DType
		scale, offset  float32
		n, off, nbytes int
	}
	var specs []spec
	size := 0
	add := func(name string, dt tensor.DType, scale, offset float32, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		nb := n * dt.Size()
		specs = append(specs, spec{&safetensors.Tensor{Name: name, Shape: shape, File: "random"}, dt, scale, offset, n, size, nb})
		size += (nb + 63) &^ 63 // every tensor on a cache line
	}
	fill := func() {
		slab := make([]byte, size)
		if huge {
			slab = tensor.HugeBytes(size)
		}
		for _, sp := range specs {
			t, n, scale, offset := sp.t, sp.n, sp.scale, sp.offset
			t.Data = slab[sp.off : sp.off+sp.nbytes : sp.off+sp.nbytes]
			switch sp.dt {
			case tensor.F32:
				t.DType = safetensors.F32
				for i := 0; i < n; i++ {
					binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(offset+scale*next()))
				}
			case tensor.BF16:
				t.DType = safetensors.BF16
				for i := 0; i < n; i++ {
					binary.LittleEndian.PutUint16(t.Data[2*i:], uint16(math.Float32bits(offset+scale*next())>>16))
				}
			case tensor.F16:
				t.DType = safetensors.F16
				for i := 0; i < n; i++ {
					binary.LittleEndian.PutUint16(t.Data[2*i:], f32ToF16(offset+scale*next()))
				}
			}
			src[t.Name] = t
		}
	}
	// Uniform on [-a, a] has standard deviation a/√3.
	a := float32(std * math.Sqrt(3))
	add("model.embed_tokens.weight", dtype, a, 0, V, D)
	if !cfg.TieWordEmbeddings {
		add("lm_head.weight", dtype, a, 0, V, D)
	}
	add("model.norm.weight", dtype, 0.1, 1, D)
	for l := 0; l < cfg.NumLayers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", dtype, 0.1, 1, D)
		add(p+"post_attention_layernorm.weight", dtype, 0.1, 1, D)
		add(p+"self_attn.q_proj.weight", dtype, a, 0, qd, D)
		add(p+"self_attn.k_proj.weight", dtype, a, 0, kvd, D)
		add(p+"self_attn.v_proj.weight", dtype, a, 0, kvd, D)
		add(p+"self_attn.o_proj.weight", dtype, a, 0, D, qd)
		if cfg.QKVBias {
			add(p+"self_attn.q_proj.bias", dtype, 0.1, 0, qd)
			add(p+"self_attn.k_proj.bias", dtype, 0.1, 0, kvd)
			add(p+"self_attn.v_proj.bias", dtype, 0.1, 0, kvd)
		}
		if cfg.QKNorm {
			add(p+"self_attn.q_norm.weight", dtype, 0.1, 1, hd)
			add(p+"self_attn.k_norm.weight", dtype, 0.1, 1, hd)
		}
		add(p+"mlp.gate_proj.weight", dtype, a, 0, I, D)
		add(p+"mlp.up_proj.weight", dtype, a, 0, I, D)
		add(p+"mlp.down_proj.weight", dtype, a, 0, D, I)
	}
	fill()
	return src
}

// NewRandom builds a model with RandomSource weights, in huge pages with
// opt.HugePages.
func NewRandom(cfg *Config, dtype tensor.DType, seed uint64, opt Options) (*Model, error) {
	m, err := New(cfg, randomSource(cfg, dtype, 0.02, seed, opt.HugePages), opt)
	if err != nil {
		return nil, err
	}
	m.huge = opt.HugePages
	return m, nil
}

// f32ToF16 rounds to the nearest binary16 (ties to even); enough for random
// weights in a normal range.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp <= 0:
		return sign // flush tiny values to zero
	case exp >= 31:
		return sign | 0x7c00
	}
	h := uint32(exp)<<10 | mant>>13
	if rem := mant & 0x1fff; rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}
