package qwen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Config is the subset of a Hugging Face Qwen2/Qwen3 config.json that the
// forward pass depends on, with Hugging Face's defaults applied.
type Config struct {
	ModelType         string  `json:"model_type"` // "qwen2" or "qwen3"
	HiddenSize        int     `json:"hidden_size"`
	NumLayers         int     `json:"num_hidden_layers"`
	NumHeads          int     `json:"num_attention_heads"`
	NumKVHeads        int     `json:"num_key_value_heads"`
	HeadDim           int     `json:"head_dim"` // hidden/heads when absent
	IntermediateSize  int     `json:"intermediate_size"`
	VocabSize         int     `json:"vocab_size"`
	RMSNormEps        float64 `json:"rms_norm_eps"`
	RopeTheta         float64 `json:"rope_theta"`
	TieWordEmbeddings bool    `json:"tie_word_embeddings"`
	HiddenAct         string  `json:"hidden_act"`
	TorchDType        string  `json:"torch_dtype"`

	// QKVBias: Qwen2 always has q/k/v biases; Qwen3 has them when
	// attention_bias is true. QKNorm: Qwen3's per-head RMSNorm of q and k.
	QKVBias bool `json:"-"`
	QKNorm  bool `json:"-"`

	// Fields only read to refuse what the engine does not implement.
	AttentionBias    *bool           `json:"attention_bias"`
	RopeScaling      json.RawMessage `json:"rope_scaling"`
	UseSlidingWindow bool            `json:"use_sliding_window"`
	SlidingWindow    *int            `json:"sliding_window"`
}

// ParseConfig reads and validates DIR/config.json.
func ParseConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("qwen: reading model config: %w", err)
	}
	c, err := DecodeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("qwen: %s: %w", path, err)
	}
	return c, nil
}

// DecodeConfig parses config.json contents, applies Hugging Face defaults and
// refuses features the engine does not implement.
func DecodeConfig(data []byte) (*Config, error) {
	c := &Config{RopeTheta: 10000, RMSNormEps: 1e-6, HiddenAct: "silu"}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch c.ModelType {
	case "qwen2":
		c.QKVBias = true
	case "qwen3":
		c.QKNorm = true
		c.QKVBias = c.AttentionBias != nil && *c.AttentionBias
	case "":
		return nil, errors.New(`"model_type" is missing (expected "qwen2" or "qwen3")`)
	default:
		return nil, fmt.Errorf("model_type %q is not supported (expected qwen2 or qwen3)", c.ModelType)
	}
	if c.NumKVHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}
	if c.HeadDim == 0 && c.NumHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads}, {"num_key_value_heads", c.NumKVHeads},
		{"head_dim", c.HeadDim}, {"intermediate_size", c.IntermediateSize}, {"vocab_size", c.VocabSize},
	} {
		if f.v <= 0 {
			return nil, fmt.Errorf("%q must be a positive integer, got %d", f.name, f.v)
		}
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumHeads, c.NumKVHeads)
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("head_dim %d must be even for rotary embeddings", c.HeadDim)
	}
	if c.HiddenAct != "silu" {
		return nil, fmt.Errorf("hidden_act %q is not supported (only silu)", c.HiddenAct)
	}
	if c.RopeTheta <= 0 || c.RMSNormEps <= 0 {
		return nil, fmt.Errorf("rope_theta (%g) and rms_norm_eps (%g) must be positive", c.RopeTheta, c.RMSNormEps)
	}
	if s := string(c.RopeScaling); s != "" && s != "null" {
		var rs struct {
			Type     string `json:"type"`
			RopeType string `json:"rope_type"`
		}
		_ = json.Unmarshal(c.RopeScaling, &rs)
		if t := rs.RopeType + rs.Type; t != "default" {
			return nil, fmt.Errorf("rope_scaling %s is not supported (only plain RoPE)", s)
		}
	}
	if c.UseSlidingWindow && c.SlidingWindow != nil {
		return nil, fmt.Errorf("use_sliding_window with sliding_window %d is not supported", *c.SlidingWindow)
	}
	return c, nil
}

// QDim is the width of the concatenated query heads.
func (c *Config) QDim() int { return c.NumHeads * c.HeadDim }

// KVDim is the width of the concatenated key (or value) heads.
func (c *Config) KVDim() int { return c.NumKVHeads * c.HeadDim }
