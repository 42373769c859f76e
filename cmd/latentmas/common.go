package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/latentmas/latentmas/hub"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

// resolveModel turns a --model / --model_name value into a local checkpoint
// directory: a directory is used as is; ORG/NAME[@REV] goes through the
// Hugging Face cache, downloading what is missing unless offline.
func resolveModel(ref string, offline bool, progress io.Writer) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("no model given")
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		return ref, nil
	}
	if !hub.IsRepoID(ref) {
		return "", fmt.Errorf("model %q is neither a directory nor a Hugging Face repo id like Qwen/Qwen3-4B", ref)
	}
	c := hub.NewClientFromEnv()
	c.Offline = c.Offline || offline
	c.Progress = progress
	return c.ResolveModel(context.Background(), ref)
}

// loaded is a model with its tokenizer and decoding defaults.
type loaded struct {
	dir   string
	model *qwen.Model
	tok   *tokenizer.Tokenizer
}

// computeHelp documents --compute.
const computeHelp = "activation precision of matrix products over bf16 weights: f32 (float32, matches the float32 reference), or bf16 (activations rounded to bfloat16 as in a bfloat16 PyTorch model; faster prefill on AVX512_BF16)"

// hugePagesHelp documents --hugepages.
const hugePagesHelp = "copy the weights out of the memory-mapped checkpoint into transparent huge pages at load (Linux): costs a copy and the model's size in private memory; decode then streams them with far fewer TLB misses (on a 2-core VM 15-20% faster on average, up to twice as fast while neighbours load the memory system)"

// parseCompute maps --compute to Options.BF16Activations.
func parseCompute(s string) (bool, error) {
	switch s {
	case "f32", "":
		return false, nil
	case "bf16":
		return true, nil
	}
	return false, fmt.Errorf("--compute %q: want f32 or bf16", s)
}

// loadQwen is qwen.Load that says on stderr when a requested --compute
// bf16 cannot apply (the checkpoint's weights are not bfloat16).
func loadQwen(dir string, opt qwen.Options, stderr io.Writer) (*qwen.Model, error) {
	m, err := qwen.Load(dir, opt)
	if err == nil && opt.BF16Activations && !m.BF16Activations() {
		fmt.Fprintf(stderr, "latentmas: --compute bf16 ignored for %s: its weights are %v, not bf16\n", dir, m.Layers[0].Q.DType)
	}
	return m, err
}

// loadModel resolves ref, loads the weights and the tokenizer.
func loadModel(ref string, opt qwen.Options, offline bool, stderr io.Writer) (*loaded, error) {
	dir, err := resolveModel(ref, offline, stderr)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	m, err := loadQwen(dir, opt, stderr)
	if err != nil {
		return nil, err
	}
	return &loaded{dir: dir, model: m, tok: tok}, nil
}
