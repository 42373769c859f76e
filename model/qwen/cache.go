package qwen

import (
	"fmt"

	"github.com/latentmas/latentmas/tensor"
)

// Cache is one sequence's KV cache: for every layer the keys (after q/k-norm
// and RoPE, as Hugging Face stores them) and values of every cached
// position, position-major ([Len, KVDim] per layer). LatentMAS uses it as the
// agents' shared working memory, so besides appending (Model.Forward) it
// supports keep-last-k truncation and gathering arbitrary positions.
type Cache struct {
	layers, kvDim int
	k, v          [][]float32 // per layer, capacity cap*kvDim
	n, cap        int

	// PosShift is added to Len to get the RoPE position of the next token.
	// Hugging Face derives positions from the cache length, so it is 0 by
	// default; after pruning, a caller that wants positions to continue from
	// the original count sets it to the number of removed positions.
	PosShift int
}

// NewCache returns an empty cache sized for the model, with room for
// capacity positions before it needs to grow.
func (m *Model) NewCache(capacity int) *Cache {
	c := &Cache{layers: m.Config.NumLayers, kvDim: m.Config.KVDim()}
	c.k = make([][]float32, c.layers)
	c.v = make([][]float32, c.layers)
	c.reserve(max(capacity, 16))
	return c
}

// Len is the number of cached positions.
func (c *Cache) Len() int { return c.n }

// NextPos is the RoPE position the next appended token gets.
func (c *Cache) NextPos() int { return c.n + c.PosShift }

// Layers is the number of layers.
func (c *Cache) Layers() int { return c.layers }

// KVDim is KV heads × head dim, the width of one cached position.
func (c *Cache) KVDim() int { return c.kvDim }

// Layer returns layer l's keys and values, each [Len, KVDim]. The slices
// alias the cache.
func (c *Cache) Layer(l int) (k, v []float32) {
	return c.k[l][:c.n*c.kvDim], c.v[l][:c.n*c.kvDim]
}

// Bytes is the memory the cached positions occupy (keys and values, all
// layers, float32).
func (c *Cache) Bytes() int64 { return int64(c.n) * int64(c.kvDim) * 4 * 2 * int64(c.layers) }

// reserve makes room for total positions, growing geometrically.
func (c *Cache) reserve(total int) {
	if total <= c.cap {
		return
	}
	nc := max(total, c.cap*2)
	// One slab for every layer's keys and values, backed by huge pages
	// where the OS allows: a prefill writes the whole cache once, and
	// 4 KiB page faults on that first touch cost up to a tenth of it.
	per := nc * c.kvDim
	slab := tensor.HugeF32(2 * c.layers * per)
	for l := 0; l < c.layers; l++ {
		k := slab[2*l*per : (2*l+1)*per : (2*l+1)*per]
		v := slab[(2*l+1)*per : (2*l+2)*per : (2*l+2)*per]
		copy(k, c.k[l][:c.n*c.kvDim])
		copy(v, c.v[l][:c.n*c.kvDim])
		c.k[l], c.v[l] = k, v
	}
	c.cap = nc
}

// Reset empties the cache, keeping its memory.
func (c *Cache) Reset() { c.n, c.PosShift = 0, 0 }

// Clone returns an independent copy.
func (c *Cache) Clone() *Cache {
	d := &Cache{layers: c.layers, kvDim: c.kvDim, PosShift: c.PosShift}
	d.k = make([][]float32, c.layers)
	d.v = make([][]float32, c.layers)
	d.reserve(max(c.n, 16))
	for l := 0; l < c.layers; l++ {
		copy(d.k[l], c.k[l][:c.n*c.kvDim])
		copy(d.v[l], c.v[l][:c.n*c.kvDim])
	}
	d.n = c.n
	return d
}

// KeepLast keeps only the last k positions of every layer (all of them if
// k ≥ Len; none if k ≤ 0), as the reference's truncation primitive does.
func (c *Cache) KeepLast(k int) {
	if k <= 0 {
		c.n = 0
		return
	}
	if k >= c.n {
		return
	}
	start := (c.n - k) * c.kvDim
	for l := 0; l < c.layers; l++ {
		copy(c.k[l], c.k[l][start:c.n*c.kvDim])
		copy(c.v[l], c.v[l][start:c.n*c.kvDim])
	}
	c.n = k
}

// Gather keeps only the positions idx (in the given order) in every layer.
func (c *Cache) Gather(idx []int) error {
	per := make([][]int, c.layers)
	for l := range per {
		per[l] = idx
	}
	return c.GatherPerLayer(per)
}

// GatherPerLayer keeps positions idx[l] in layer l. All layers must keep the
// same number of positions, since the cache has one length.
func (c *Cache) GatherPerLayer(idx [][]int) error {
	if len(idx) != c.layers {
		return fmt.Errorf("qwen: gather: %d index lists for %d layers", len(idx), c.layers)
	}
	n := len(idx[0])
	for l, ix := range idx {
		if len(ix) != n {
			return fmt.Errorf("qwen: gather: layer %d keeps %d positions, layer 0 keeps %d", l, len(ix), n)
		}
		for _, p := range ix {
			if p < 0 || p >= c.n {
				return fmt.Errorf("qwen: gather: layer %d: position %d out of range [0, %d)", l, p, c.n)
			}
		}
	}
	d := c.kvDim
	if ascending(idx) {
		// Strictly ascending positions (kNN keeps temporal order) compact in
		// place: position i is read from p ≥ i, never overwritten first.
		for l, ix := range idx {
			for i, p := range ix {
				if i != p {
					copy(c.k[l][i*d:(i+1)*d], c.k[l][p*d:(p+1)*d])
					copy(c.v[l][i*d:(i+1)*d], c.v[l][p*d:(p+1)*d])
				}
			}
		}
		c.n = n
		return nil
	}
	k := make([]float32, n*d)
	v := make([]float32, n*d)
	for l, ix := range idx {
		for i, p := range ix {
			copy(k[i*d:(i+1)*d], c.k[l][p*d:(p+1)*d])
			copy(v[i*d:(i+1)*d], c.v[l][p*d:(p+1)*d])
		}
		copy(c.k[l], k)
		copy(c.v[l], v)
	}
	c.n = n
	return nil
}

// ascending reports whether every index list is strictly increasing.
func ascending(idx [][]int) bool {
	for _, ix := range idx {
		for i := 1; i < len(ix); i++ {
			if ix[i] <= ix[i-1] {
				return false
			}
		}
	}
	return true
}

// AppendKV appends n positions of raw keys and values ([n, KVDim] per layer)
// to every layer; used to build a cache from recorded data.
func (c *Cache) AppendKV(k, v [][]float32, n int) error {
	if len(k) != c.layers || len(v) != c.layers {
		return fmt.Errorf("qwen: append: want %d layers", c.layers)
	}
	c.reserve(c.n + n)
	for l := 0; l < c.layers; l++ {
		if len(k[l]) != n*c.kvDim || len(v[l]) != n*c.kvDim {
			return fmt.Errorf("qwen: append: layer %d: want %d values", l, n*c.kvDim)
		}
		copy(c.k[l][c.n*c.kvDim:], k[l])
		copy(c.v[l][c.n*c.kvDim:], v[l])
	}
	c.n += n
	return nil
}
