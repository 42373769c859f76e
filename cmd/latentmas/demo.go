package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/mas"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
	"github.com/latentmas/latentmas/tokenizer"
)

func init() {
	register(command{
		name:    "demo",
		summary: "run baseline, text_mas and latent_mas on a built-in question with a tiny random model (seconds, no files)",
		run:     runDemo,
	})
}

const demoQuestion = "A baker makes 24 rolls in the morning and half as many in the afternoon. How many rolls does she make in total?"

// demoTokenizer is a byte-level tokenizer with Qwen's pre-tokenizer and
// special tokens but no merges (one token per byte), built in memory.
func demoTokenizer() (*tokenizer.Tokenizer, error) {
	// GPT-2's byte-to-unicode table: printable bytes stand for themselves,
	// the others are shifted to U+0100 and up.
	vocab := map[string]int{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			vocab[string(rune(b))] = b
		} else {
			vocab[string(rune(256+n))] = b
			n++
		}
	}
	specials := []struct {
		tok     string
		special bool
	}{{"<|endoftext|>", true}, {"<|im_start|>", true}, {"<|im_end|>", true}, {"<think>", false}, {"</think>", false}}
	var added []map[string]any
	for i, s := range specials {
		added = append(added, map[string]any{"id": 256 + i, "content": s.tok, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": s.special})
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
	tj, err := json.Marshal(map[string]any{
		"version": "1.0", "added_tokens": added, "normalizer": map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
				"behavior": "Isolated", "invert": false},
			byteLevel}},
		"post_processor": byteLevel, "decoder": byteLevel,
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false},
	})
	if err != nil {
		return nil, err
	}
	const chatML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
		"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
	cj, err := json.Marshal(map[string]any{"chat_template": chatML, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
	if err != nil {
		return nil, err
	}
	return tokenizer.Parse(tj, cj)
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", `Usage: latentmas demo [--latent_steps 4] [--max_new_tokens 24]

Shows the whole LatentMAS pipeline working in seconds on any machine: a tiny
Qwen3-shaped model with random weights is made in memory (no files, no
network) and baseline, text_mas and latent_mas each solve one built-in
question, printing every agent's stage, its latent steps, how the shared KV
working memory grows, and timings.`, stderr)
	steps := fs.Int("latent_steps", 4, "latent steps per non-judger agent")
	maxNew := fs.Int("max_new_tokens", 24, "new tokens per generating agent")
	threads := fs.Int("threads", 0, "worker threads (0 = all cores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tok, err := demoTokenizer()
	if err != nil {
		return fmt.Errorf("demo tokenizer: %w", err)
	}
	cfg := &qwen.Config{ModelType: "qwen3", HiddenSize: 64, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 32,
		IntermediateSize: 128, VocabSize: tok.Len(), RMSNormEps: 1e-6, RopeTheta: 1e6, HiddenAct: "silu", QKNorm: true}
	t0 := time.Now()
	m, err := qwen.NewRandom(cfg, tensor.BF16, 2026, qwen.Options{Threads: *threads})
	if err != nil {
		return err
	}
	defer m.Close()
	r, _, err := latent.BuildRealigner(m, latent.RealignOptions{Enabled: true, Lambda: 1e-5})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "latentmas demo: a random Qwen3-shaped model (hidden %d, %d layers, vocab %d, bf16) made in memory in %s.\n",
		cfg.HiddenSize, cfg.NumLayers, cfg.VocabSize, time.Since(t0).Round(time.Millisecond))
	fmt.Fprintln(stdout, "NOTE: its weights are random, so its answers are meaningless; this shows the pipeline, not accuracy.")
	fmt.Fprintf(stdout, "Question: %s\n", demoQuestion)

	for _, method := range []string{"baseline", "text_mas", "latent_mas"} {
		fmt.Fprintf(stdout, "\n=== %s ===\n", method)
		runner := &mas.Runner{Model: m, Tok: tok, Realign: r, Opt: mas.Options{
			Method: method, Arch: "sequential", LatentSteps: *steps, MaxNewTokens: *maxNew, ContextLength: -1,
			Sampling: mas.SamplingConfig{Temperature: 0, TopP: 1, EOS: []int{258}}, Seed: 1,
		}}
		runner.Stage = func(format string, args ...any) { fmt.Fprintf(stdout, "  stage: "+format+"\n", args...) }
		t0 := time.Now()
		res, st, err := runner.Solve([]mas.Problem{{Index: 0, Family: mas.Math, Question: demoQuestion}})
		if err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		for _, a := range res[0].Agents {
			line := fmt.Sprintf("  %-8s prompt %4d tokens", a.Name, a.InputTokens)
			if a.LatentSteps != nil {
				line += fmt.Sprintf(", %d latent steps", *a.LatentSteps)
			}
			if a.NewTokens > 0 {
				line += fmt.Sprintf(", wrote %d tokens", a.NewTokens)
			}
			line += fmt.Sprintf(" | KV memory %5d positions, %7.1f KiB | %.3fs", a.KVPositions, float64(a.KVBytes)/1024, a.Seconds)
			fmt.Fprintln(stdout, line)
		}
		out := []rune(strings.ReplaceAll(res[0].Output, "\n", " "))
		if len(out) > 40 {
			out = append(out[:40], '…')
		}
		fmt.Fprintf(stdout, "  answer (random model): %q\n", string(out))
		fmt.Fprintf(stdout, "  total %.3fs: %d new tokens, %d latent steps, peak KV %.1f KiB, prefill %.0f tok/s, decode %.0f tok/s\n",
			time.Since(t0).Seconds(), res[0].NewTokens, res[0].LatentSteps, float64(res[0].PeakKVBytes)/1024,
			float64(st.PromptTokens)/max(st.Prefill.Seconds(), 1e-9), float64(st.NewTokens)/max(st.Decode.Seconds(), 1e-9))
	}
	fmt.Fprintln(stdout, "\nWith a real model, for example:")
	fmt.Fprintln(stdout, "  latentmas run --method latent_mas --model_name Qwen/Qwen3-4B --task gsm8k --max_samples 100 --latent_steps 10 --latent_space_realign")
	return nil
}
