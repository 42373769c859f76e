package mas

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// SamplingConfig is a decoding configuration, as in Hugging Face's
// generation_config.json plus the CLI overrides.
type SamplingConfig struct {
	Temperature float64 // 0 = greedy
	TopK        int     // 0 = disabled
	TopP        float64 // 1 = disabled
	EOS         []int   // stop ids
	Pad         int     // pad id (-1 if none)
}

// LoadGenerationConfig reads DIR/generation_config.json; a missing file
// gives Hugging Face's defaults (temperature 1, top_k 50, top_p 1, no EOS).
func LoadGenerationConfig(dir string) (SamplingConfig, error) {
	c := SamplingConfig{Temperature: 1, TopK: 50, TopP: 1, Pad: -1}
	path := filepath.Join(dir, "generation_config.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	var raw struct {
		Temperature *float64        `json:"temperature"`
		TopK        *int            `json:"top_k"`
		TopP        *float64        `json:"top_p"`
		DoSample    *bool           `json:"do_sample"`
		EOS         json.RawMessage `json:"eos_token_id"`
		Pad         *int            `json:"pad_token_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if raw.Temperature != nil {
		c.Temperature = *raw.Temperature
	}
	if raw.TopK != nil {
		c.TopK = *raw.TopK
	}
	if raw.TopP != nil {
		c.TopP = *raw.TopP
	}
	if raw.DoSample != nil && !*raw.DoSample {
		c.Temperature = 0
	}
	if raw.Pad != nil {
		c.Pad = *raw.Pad
	}
	if len(raw.EOS) > 0 && string(raw.EOS) != "null" {
		var one int
		if err := json.Unmarshal(raw.EOS, &one); err == nil {
			c.EOS = []int{one}
		} else if err := json.Unmarshal(raw.EOS, &c.EOS); err != nil {
			return c, fmt.Errorf("%s: eos_token_id: %w", path, err)
		}
	}
	return c, nil
}

// Validate checks the ranges.
func (c SamplingConfig) Validate() error {
	switch {
	case c.Temperature < 0 || math.IsNaN(c.Temperature):
		return fmt.Errorf("temperature must be ≥ 0, got %g", c.Temperature)
	case c.TopK < 0:
		return fmt.Errorf("top_k must be ≥ 0, got %d", c.TopK)
	case !(c.TopP > 0 && c.TopP <= 1):
		return fmt.Errorf("top_p must be in (0, 1], got %g", c.TopP)
	}
	return nil
}

// Sampler draws token ids from logits exactly in Hugging Face's order:
// temperature scaling, top-k (ties at the k-th value kept), top-p (the
// smallest set of most likely tokens whose mass reaches top_p, at least
// one), then a multinomial draw. Temperature 0 is greedy argmax. Each
// sequence owns a Sampler and its RNG, so draws never depend on batch
// composition or thread count.
type Sampler struct {
	cfg SamplingConfig
	rng *rand.Rand

	idx   []int
	probs []float64
	heap  []float32
}

// NewSampler returns a sampler with its own RNG stream seeded from (seed,
// stream), e.g. the run seed and the item index.
func NewSampler(cfg SamplingConfig, seed, stream uint64) *Sampler {
	return &Sampler{cfg: cfg, rng: rand.New(rand.NewPCG(seed, stream))}
}

// Sample picks the next token from a logits row (not modified).
func (s *Sampler) Sample(logits []float32) int {
	if s.cfg.Temperature == 0 {
		return argmax(logits)
	}
	inv := 1 / s.cfg.Temperature
	// Candidate set after top-k: indices of the k largest logits, plus any
	// tied with the k-th (HF removes only scores < the k-th largest).
	s.idx = s.idx[:0]
	if k := s.cfg.TopK; k > 0 && k < len(logits) {
		kth := kthLargest(logits, k, &s.heap)
		for i, v := range logits {
			if v >= kth {
				s.idx = append(s.idx, i)
			}
		}
	} else {
		for i := range logits {
			s.idx = append(s.idx, i)
		}
	}
	// Sort candidates by descending logit (stable by id) for top-p.
	slices.SortStableFunc(s.idx, func(a, b int) int { return cmp.Compare(logits[b], logits[a]) })
	mx := float64(logits[s.idx[0]]) * inv
	s.probs = s.probs[:0]
	var sum float64
	for _, i := range s.idx {
		p := math.Exp(float64(logits[i])*inv - mx)
		s.probs = append(s.probs, p)
		sum += p
	}
	n := len(s.idx)
	if s.cfg.TopP < 1 {
		// HF sorts ascending and removes tokens whose cumulative mass from the
		// bottom is ≤ 1 − top_p; equivalently keep the shortest descending
		// prefix whose mass exceeds that remainder.
		var tail float64
		cut := n
		for j := n - 1; j > 0; j-- {
			tail += s.probs[j] / sum
			if tail > 1-s.cfg.TopP {
				break
			}
			cut = j
		}
		n = cut
	}
	var total float64
	for _, p := range s.probs[:n] {
		total += p
	}
	u := s.rng.Float64() * total
	for j, p := range s.probs[:n] {
		u -= p
		if u < 0 {
			return s.idx[j]
		}
	}
	return s.idx[n-1]
}

// kthLargest returns the k-th largest value of x (1-based), keeping a
// min-heap of the k largest seen in *heap.
func kthLargest(x []float32, k int, heap *[]float32) float32 {
	h := (*heap)[:0]
	defer func() { *heap = h }()
	for _, v := range x {
		if len(h) < k {
			h = append(h, v)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if h[p] <= h[i] {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		if v <= h[0] {
			continue
		}
		h[0] = v
		for i := 0; ; {
			l, r, m := 2*i+1, 2*i+2, i
			if l < k && h[l] < h[m] {
				m = l
			}
			if r < k && h[r] < h[m] {
				m = r
			}
			if m == i {
				break
			}
			h[m], h[i] = h[i], h[m]
			i = m
		}
	}
	return h[0]
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}
