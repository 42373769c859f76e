package safetensors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// qwenConfig is the part of a Qwen config.json that fixes tensor shapes.
type qwenConfig struct {
	ModelType         string `json:"model_type"`
	Hidden            int    `json:"hidden_size"`
	Layers            int    `json:"num_hidden_layers"`
	Heads             int    `json:"num_attention_heads"`
	KVHeads           int    `json:"num_key_value_heads"`
	HeadDim           int    `json:"head_dim"`
	Intermediate      int    `json:"intermediate_size"`
	Vocab             int    `json:"vocab_size"`
	TieWordEmbeddings bool   `json:"tie_word_embeddings"`
}

func readConfig(t *testing.T, dir string) qwenConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c qwenConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	return c
}

// expectedShapes derives every tensor name and shape of a Qwen2/Qwen3 causal
// LM from its config: Qwen2 has q/k/v biases, Qwen3 has q_norm/k_norm, and a
// tied model has no lm_head.weight.
func expectedShapes(c qwenConfig) map[string][]int {
	D, hd, I := c.Hidden, c.HeadDim, c.Intermediate
	q, kv := c.Heads*hd, c.KVHeads*hd
	m := map[string][]int{
		"model.embed_tokens.weight": {c.Vocab, D},
		"model.norm.weight":         {D},
	}
	if !c.TieWordEmbeddings {
		m["lm_head.weight"] = []int{c.Vocab, D}
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = []int{D}
		m[p+"post_attention_layernorm.weight"] = []int{D}
		m[p+"self_attn.q_proj.weight"] = []int{q, D}
		m[p+"self_attn.k_proj.weight"] = []int{kv, D}
		m[p+"self_attn.v_proj.weight"] = []int{kv, D}
		m[p+"self_attn.o_proj.weight"] = []int{D, q}
		m[p+"mlp.gate_proj.weight"] = []int{I, D}
		m[p+"mlp.up_proj.weight"] = []int{I, D}
		m[p+"mlp.down_proj.weight"] = []int{D, I}
		switch c.ModelType {
		case "qwen2":
			m[p+"self_attn.q_proj.bias"] = []int{q}
			m[p+"self_attn.k_proj.bias"] = []int{kv}
			m[p+"self_attn.v_proj.bias"] = []int{kv}
		case "qwen3":
			m[p+"self_attn.q_norm.weight"] = []int{hd}
			m[p+"self_attn.k_norm.weight"] = []int{hd}
		}
	}
	return m
}

// checkCheckpoint compares a checkpoint's names, dtypes and shapes with the
// config-derived expectations.
func checkCheckpoint(t *testing.T, c *Checkpoint, cfg qwenConfig, dtype DType) {
	t.Helper()
	want := expectedShapes(cfg)
	wantNames := make([]string, 0, len(want))
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if got := c.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("names:\n got %v\nwant %v", got, wantNames)
	}
	for _, name := range wantNames {
		tn, err := c.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if tn.DType != dtype || !reflect.DeepEqual(tn.Shape, want[name]) {
			t.Errorf("%s: %s %v, want %s %v", name, tn.DType, tn.Shape, dtype, want[name])
		}
		if len(tn.Data) != tn.NumElements()*dtype.Size() {
			t.Errorf("%s: %d bytes for %d elements", name, len(tn.Data), tn.NumElements())
		}
	}
}

func TestGoldenCheckpoints(t *testing.T) {
	root := goldenRoot(t)
	for _, tc := range []struct {
		model  string
		dtype  DType
		shards int
	}{
		{"qwen2-tiny", BF16, 1},
		{"qwen3-tiny", BF16, 1},
		{"qwen3-tiny-sharded", F32, 2},
	} {
		t.Run(tc.model, func(t *testing.T) {
			dir := filepath.Join(root, "models", tc.model)
			c, err := OpenDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Files()) != tc.shards {
				t.Errorf("%d files, want %d", len(c.Files()), tc.shards)
			}
			cfg := readConfig(t, dir)
			checkCheckpoint(t, c, cfg, tc.dtype)
			for _, f := range c.Files() {
				if got := f.Metadata()["format"]; got != "pt" {
					t.Errorf("%s: metadata format %q, want pt", f.Path(), got)
				}
			}
			emb, _ := c.Tensor("model.embed_tokens.weight")
			if !reflect.DeepEqual(emb.Shape, []int{151936, 64}) {
				t.Errorf("embed_tokens shape %v", emb.Shape)
			}
			_, err = c.Tensor("no.such.tensor")
			if !errorIs(err, ErrTensorNotFound) || !contains(err.Error(), dir) || !contains(err.Error(), "no.such.tensor") {
				t.Errorf("missing tensor error %v", err)
			}
		})
	}
}

// TestGoldenShardedEqualsBF16 checks that the F32 shards hold exactly the BF16
// values of qwen3-tiny upcast (the golden README says they are bitwise equal).
func TestGoldenShardedEqualsBF16(t *testing.T) {
	root := goldenRoot(t)
	bf, err := OpenDir(filepath.Join(root, "models", "qwen3-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	f32, err := OpenDir(filepath.Join(root, "models", "qwen3-tiny-sharded"))
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	for _, name := range []string{
		"model.embed_tokens.weight", // shard 1, large
		"lm_head.weight",            // shard 2
		"model.layers.0.self_attn.q_proj.weight",
		"model.layers.2.mlp.down_proj.weight",
		"model.layers.1.self_attn.k_norm.weight",
		"model.norm.weight",
	} {
		a, err := bf.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f32.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		up, err := a.ToF32()
		if err != nil {
			t.Fatal(err)
		}
		bits, err := a.U16()
		if err != nil {
			t.Fatal(err)
		}
		want, err := b.F32()
		if err != nil {
			t.Fatal(err)
		}
		if len(up) != len(want) || len(bits) != len(want) {
			t.Fatalf("%s: %d vs %d elements", name, len(up), len(want))
		}
		for i := range want {
			if up[i] != want[i] || BF16ToF32(bits[i]) != want[i] {
				t.Fatalf("%s[%d]: bf16 upcast %v, f32 shard %v", name, i, up[i], want[i])
			}
		}
	}
}

func BenchmarkOpenGolden(b *testing.B) {
	root := goldenRoot(b)
	for _, model := range []string{"qwen3-tiny", "qwen3-tiny-sharded"} {
		dir := filepath.Join(root, "models", model)
		b.Run(model, func(b *testing.B) {
			for b.Loop() {
				c, err := OpenDir(dir)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
