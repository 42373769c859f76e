package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/latentmas/latentmas/mas"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

func init() {
	register(command{
		name:    "generate",
		summary: "generate text from a prompt (streamed), with Hugging Face sampling",
		run:     runGenerate,
	})
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("generate", `Usage: latentmas generate --model DIR|ORG/NAME (--prompt TEXT | --ids 1,2,3) [flags]

Generates text and streams it to stdout as it is produced, then prints a
one-line summary (prompt and new tokens, prefill and decode tokens/s) to
stderr. Sampling follows Hugging Face: temperature → top-k → top-p, with
defaults from the checkpoint's generation_config.json; --temperature 0 is
greedy. --chat renders the prompt with the checkpoint's own chat template.`, stderr)
	model := fs.String("model", "", "checkpoint directory or Hugging Face repo id (Qwen/Qwen3-0.6B)")
	prompt := fs.String("prompt", "", "prompt text")
	idsFlag := fs.String("ids", "", "prompt as comma-separated token ids (instead of --prompt)")
	chat := fs.Bool("chat", false, "render --prompt as a user message with the chat template")
	system := fs.String("system", "", "system message (implies --chat)")
	think := fs.String("enable_thinking", "", "Qwen3 chat template enable_thinking: true, false, or empty to leave it undefined")
	maxNew := fs.Int("max_new_tokens", 256, "maximum number of new tokens")
	temperature := fs.Float64("temperature", -1, "sampling temperature (0 = greedy; default from generation_config.json)")
	topK := fs.Int("top_k", -1, "top-k (0 = off; default from generation_config.json)")
	topP := fs.Float64("top_p", -1, "top-p (1 = off; default from generation_config.json)")
	seed := fs.Uint64("seed", 42, "random seed")
	threads := fs.Int("threads", 0, "worker threads (0 = all cores)")
	compute := fs.String("compute", "f32", computeHelp)
	hugePages := fs.Bool("hugepages", false, hugePagesHelp)
	offline := fs.Bool("offline", false, "never download (also HF_HUB_OFFLINE=1)")
	asJSON := fs.Bool("json", false, "print one JSON object (ids, text, stats) instead of streaming text")
	device := fs.String("device", "cpu", deviceHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*prompt == "") == (*idsFlag == "") {
		return fmt.Errorf("give exactly one of --prompt and --ids")
	}
	if *maxNew < 0 {
		return fmt.Errorf("--max_new_tokens must be ≥ 0")
	}
	bf16Act, err := parseCompute(*compute)
	if err != nil {
		return err
	}
	lm, err := loadModel(*model, qwen.Options{Threads: *threads, BF16Activations: bf16Act, HugePages: *hugePages}, *offline, stderr)
	if err != nil {
		return err
	}
	defer lm.model.Close()
	release, err := attachDevice(lm.model, *device, stderr)
	if err != nil {
		return err
	}
	defer release()

	var ids []int
	text := *prompt
	if *idsFlag != "" {
		if ids, err = parseIDs(*idsFlag); err != nil {
			return err
		}
	} else {
		if *chat || *system != "" {
			var msgs []tokenizer.Message
			if *system != "" {
				msgs = append(msgs, tokenizer.Message{Role: "system", Content: *system})
			}
			msgs = append(msgs, tokenizer.Message{Role: "user", Content: *prompt})
			opt := tokenizer.ChatOptions{AddGenerationPrompt: true}
			switch *think {
			case "true":
				opt.EnableThinking = tokenizer.Bool(true)
			case "false":
				opt.EnableThinking = tokenizer.Bool(false)
			case "":
			default:
				return fmt.Errorf("--enable_thinking must be true, false or empty, got %q", *think)
			}
			if text, err = lm.tok.ApplyChatTemplate(msgs, opt); err != nil {
				return err
			}
		}
		ids = lm.tok.Encode(text)
	}
	cfg, err := mas.LoadGenerationConfig(lm.dir)
	if err != nil {
		return err
	}
	if *temperature >= 0 {
		cfg.Temperature = *temperature
	}
	if *topK >= 0 {
		cfg.TopK = *topK
	}
	if *topP >= 0 {
		cfg.TopP = *topP
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	dec := lm.tok.NewStreamDecoder(true)
	req := mas.GenRequest{
		Cache:   lm.model.NewCache(len(ids) + *maxNew),
		Prompt:  ids,
		MaxNew:  *maxNew,
		Sampler: mas.NewSampler(cfg, *seed, 0),
		EOS:     cfg.EOS,
	}
	if !*asJSON {
		req.OnToken = func(id int) { io.WriteString(stdout, dec.Push(id)) }
	}
	res, st, err := mas.Generate(lm.model, []mas.GenRequest{req})
	if err != nil {
		return err
	}
	prefillTPS := float64(st.PromptTokens) / max(st.Prefill.Seconds(), 1e-9)
	decodeTPS := float64(st.NewTokens) / max(st.Decode.Seconds(), 1e-9)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"prompt_ids": ids, "ids": res[0].IDs, "text": lm.tok.Decode(res[0].IDs, true),
			"prompt_tokens": st.PromptTokens, "new_tokens": st.NewTokens, "stopped_at_eos": res[0].StopEOS,
			"prefill_tok_s": prefillTPS, "decode_tok_s": decodeTPS,
		})
	}
	io.WriteString(stdout, dec.Flush())
	fmt.Fprintln(stdout)
	fmt.Fprintf(stderr, "[%d prompt tokens, %d new tokens; prefill %.1f tok/s, decode %.1f tok/s]\n",
		st.PromptTokens, st.NewTokens, prefillTPS, decodeTPS)
	return nil
}
