package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/latentmas/latentmas/eval"
	"github.com/latentmas/latentmas/hub"
	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/mas"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

func init() {
	register(command{
		name:    "run",
		summary: "evaluate a method (baseline, text_mas, latent_mas, latent_mas_hybrid) on a benchmark task",
		run:     runRun,
	})
	register(command{
		name:    "merge",
		summary: "combine the outputs of sharded runs into one summary",
		run:     runMerge,
	})
}

// runFlags are the reference's run.py flags plus ours.
type runFlags struct {
	method, model, task, prompt, split, data, dataDir, output   string
	latentSteps, maxSamples, maxNew, batch, contextLen, threads int
	compute                                                     string
	hugePages                                                   bool
	realign, think, latentOnly, seqOnly, resume, offline        bool
	resize, useVLLM                                             bool
	temperature, topP, ridge                                    float64
	topK                                                        int
	seed                                                        uint64
	shard                                                       string
	knn                                                         bool
	knnPercentage                                               float64
	knnMinKeep                                                  int
	knnStrategy, knnPositions                                   string
	quantBits                                                   int
	compareQuant                                                bool
	agentModels                                                 []string
	alignMethod                                                 string
	alignRidge, kernelTemp                                      float64
	kernelFeatures, kernelChunk                                 int
	kernelSeed                                                  int64
}

func runRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", `Usage: latentmas run --method METHOD --model_name MODEL [--task gsm8k] [flags]

Evaluates a method on a task the way the LatentMAS reference does, printing
each problem in the reference's log format on stdout and a final JSON
summary. Results are appended to OUTPUT/results.jsonl as each problem
finishes (--resume continues a killed run), times to timings.jsonl, and the
summary to summary.json. Reference command lines run unchanged; dash and
underscore spellings of flags are the same flag.

Methods: baseline (one agent), text_mas (four agents passing text),
latent_mas (planner, critic and refiner think in latent space and hand
their KV cache on; only the judger writes text), latent_mas_hybrid (the same
with a different checkpoint per agent, --agent_models: at a model switch the
working memory is rebuilt for the new model from the re-encoded prompts and
the latents mapped by --align_method).`, stderr)
	var f runFlags
	fs.StringVar(&f.method, "method", "", "baseline | text_mas | latent_mas | latent_mas_hybrid (required)")
	fs.StringVar(&f.model, "model_name", "", "checkpoint directory or Hugging Face repo id, any Qwen2/2.5/3 model (required)")
	fs.StringVar(&f.task, "task", "gsm8k", "gsm8k | aime2024 | aime2025 | gpqa | arc_easy | arc_challenge | mbppplus | humanevalplus | medqa")
	fs.StringVar(&f.prompt, "prompt", "sequential", "agent architecture: sequential | hierarchical")
	fs.StringVar(&f.split, "split", "test", "dataset split (gsm8k only; other tasks use their fixed split)")
	fs.StringVar(&f.data, "data", "", "local dataset file (.jsonl, .json, .parquet) instead of the Hub")
	fs.StringVar(&f.dataDir, "data_dir", "", "folder with local-only datasets (medqa/medqa.json); default $LATENTMAS_DATA")
	fs.StringVar(&f.output, "output", "", "output folder (default results/MODEL_TASK_METHOD_PROMPT)")
	fs.IntVar(&f.latentSteps, "latent_steps", 0, "latent steps per non-judger agent (0: the judger gets no cache, as in the reference)")
	fs.BoolVar(&f.realign, "latent_space_realign", false, "map hidden states with the ridge realignment matrix (off: norm rescale only)")
	fs.BoolVar(&f.think, "think", false, "append <think> to every latent_mas agent prompt")
	fs.BoolVar(&f.latentOnly, "latent_only", false, "latent_mas: the next agent sees only the previous agent's latent positions")
	fs.BoolVar(&f.seqOnly, "sequential_info_only", false, "latent_mas: the next agent sees only the previous agent's prompt and latents")
	fs.IntVar(&f.maxSamples, "max_samples", -1, "problems to evaluate (-1 = all)")
	fs.IntVar(&f.maxNew, "max_new_tokens", 4096, "new-token budget per generating agent")
	fs.Float64Var(&f.temperature, "temperature", 0.6, "sampling temperature (0 = greedy)")
	fs.Float64Var(&f.topP, "top_p", 0.95, "top-p")
	fs.IntVar(&f.topK, "top_k", -1, "top-k (default from the model's generation_config.json; 0 = off)")
	fs.IntVar(&f.batch, "generate_bs", 20, "problems per batch (results do not depend on it)")
	fs.IntVar(&f.contextLen, "text_mas_context_length", -1, "text_mas context limit in characters (-1 = unlimited)")
	fs.Uint64Var(&f.seed, "seed", 42, "random seed; each problem gets its own stream")
	fs.Float64Var(&f.ridge, "ridge", 1e-5, "ridge λ of the realignment matrix")
	fs.BoolVar(&f.resize, "resize_embeddings", true, "compute realignment statistics over the first len(tokenizer) embedding rows, as the reference's resize does")
	fs.BoolVar(&f.knn, "knn_filter", false, "latent_mas: prune the KV working memory by key similarity before the critic, refiner and judger")
	fs.Float64Var(&f.knnPercentage, "knn_percentage", 0.8, "fraction of cached positions kept by --knn_filter")
	fs.IntVar(&f.knnMinKeep, "knn_min_keep", 5, "--knn_filter keeps at least this many positions, always the most recent ones")
	fs.StringVar(&f.knnStrategy, "knn_strategy", "top", "which earlier positions --knn_filter keeps: top (most similar), bottom (least similar), random")
	fs.StringVar(&f.knnPositions, "knn_positions", "reference", "RoPE positions after pruning: reference (new tokens continue at the pruned cache length, as the kNN fork does; kept keys keep their old rotation) or keep (new tokens continue from the original position count)")
	fs.IntVar(&f.quantBits, "quant_bits", 16, "latent_mas: quantise each fed latent to 16 | 8 | 4 | 2 bits (per-vector min–max)")
	fs.BoolVar(&f.compareQuant, "compare_quantizations", false, "latent_mas: run the task once per width 16, 8, 4, 2 and print a comparison table")
	fs.StringSliceVar(&f.agentModels, "agent_models", nil, "latent_mas_hybrid: four models for planner, critic, refiner, judger (space- or comma-separated; default --model_name for all)")
	fs.StringVar(&f.alignMethod, "align_method", "identical", "latent_mas_hybrid: how latents map into a model's embedding space: identical (norm rescale), linear (ridge), kernel (random features)")
	fs.Float64Var(&f.alignRidge, "align_ridge", 1e-5, "ridge λ of --align_method linear")
	fs.IntVar(&f.kernelFeatures, "kernel_features", 1024, "random features of --align_method kernel")
	fs.Float64Var(&f.kernelTemp, "kernel_temperature", 1.0, "temperature of --align_method kernel")
	fs.Int64Var(&f.kernelSeed, "kernel_seed", -1, "seed of the kernel features (-1 = --seed)")
	fs.IntVar(&f.kernelChunk, "kernel_chunk_size", 4096, "vocabulary rows per chunk when building the kernel map")
	fs.BoolVar(&f.resume, "resume", false, "continue a run: skip problems already in OUTPUT/results.jsonl")
	fs.StringVar(&f.shard, "shard", "", "i/n: run every n-th problem starting at i (combine with latentmas merge)")
	fs.IntVar(&f.threads, "threads", 0, "worker threads (0 = all cores)")
	fs.StringVar(&f.compute, "compute", "f32", computeHelp)
	fs.BoolVar(&f.hugePages, "hugepages", false, hugePagesHelp)
	fs.BoolVar(&f.offline, "offline", false, "never download (also HF_HUB_OFFLINE=1)")
	fs.BoolVar(&f.useVLLM, "use_vllm", false, "not supported (vLLM is a GPU server); accepted only to explain")
	device := fs.String("device", "cpu", deviceHelp)
	fs.String("device2", "", "accepted for reference compatibility; ignored")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := parseCompute(f.compute); err != nil {
		return err
	}
	if f.useVLLM {
		return fmt.Errorf("--use_vllm is not supported: latentmas runs the Hugging Face path on CPU")
	}
	if f.method == "" || f.model == "" {
		return fmt.Errorf("--method and --model_name are required (see --help)")
	}
	if len(f.agentModels) > 0 {
		// The reference spells it --agent_models A B C D.
		f.agentModels = append(f.agentModels, fs.Args()...)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if f.method == "latent_mas_hybrid" && len(f.agentModels) != 0 && len(f.agentModels) != 4 {
		return fmt.Errorf("--agent_models needs exactly 4 models (planner critic refiner judger), got %d", len(f.agentModels))
	}
	var shardI, shardN int
	if f.shard != "" {
		if _, err := fmt.Sscanf(f.shard, "%d/%d", &shardI, &shardN); err != nil || shardN < 1 || shardI < 0 || shardI >= shardN {
			return fmt.Errorf("--shard must be i/n with 0 ≤ i < n, got %q", f.shard)
		}
	}
	opt := mas.Options{Method: f.method, Arch: f.prompt, LatentSteps: f.latentSteps, Think: f.think,
		LatentOnly: f.latentOnly, SequentialInfoOnly: f.seqOnly || f.latentOnly, MaxNewTokens: f.maxNew,
		ContextLength: f.contextLen, Seed: f.seed}
	opt.Sampling = mas.SamplingConfig{Temperature: f.temperature, TopP: f.topP, TopK: 0}
	if f.knn {
		if f.method != "latent_mas" {
			return fmt.Errorf("--knn_filter needs --method latent_mas")
		}
		if f.knnPositions != "reference" && f.knnPositions != "keep" {
			return fmt.Errorf("--knn_positions must be reference or keep, got %q", f.knnPositions)
		}
		if !(f.knnPercentage > 0 && f.knnPercentage <= 1) || f.knnMinKeep < 0 {
			return fmt.Errorf("--knn_percentage must be in (0, 1] and --knn_min_keep ≥ 0")
		}
		switch f.knnStrategy {
		case latent.KNNTop, latent.KNNBottom, latent.KNNRandom:
		default:
			return fmt.Errorf("--knn_strategy must be top, bottom or random, got %q", f.knnStrategy)
		}
		opt.KNN = &latent.KNNOptions{Percentage: f.knnPercentage, MinKeep: f.knnMinKeep, Strategy: f.knnStrategy,
			KeepPositions: f.knnPositions == "keep"}
	}
	switch f.quantBits {
	case 16, 8, 4, 2:
	default:
		return fmt.Errorf("--quant_bits must be 16, 8, 4 or 2, got %d", f.quantBits)
	}
	if (f.quantBits != 16 || f.compareQuant) && f.method != "latent_mas" {
		if f.method == "latent_mas_hybrid" {
			return fmt.Errorf("--quant_bits is not applied by latent_mas_hybrid (as in the reference, §6 Q4); use --method latent_mas")
		}
		return fmt.Errorf("--quant_bits and --compare_quantizations need --method latent_mas")
	}
	opt.QuantBits = f.quantBits
	if err := opt.Validate(); err != nil {
		return err
	}
	if _, err := eval.Lookup(f.task); err != nil {
		return err
	}

	dir, err := resolveModel(f.model, f.offline, stderr)
	if err != nil {
		return err
	}
	gen, err := mas.LoadGenerationConfig(dir)
	if err != nil {
		return err
	}
	opt.Sampling.EOS, opt.Sampling.Pad = gen.EOS, gen.Pad
	opt.Sampling.TopK = gen.TopK
	if f.topK >= 0 {
		opt.Sampling.TopK = f.topK
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	m, err := loadQwen(dir, qwen.Options{Threads: f.threads, BF16Activations: f.compute == "bf16", HugePages: f.hugePages}, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	release, err := attachDevice(m, *device, stderr)
	if err != nil {
		return err
	}
	defer release()
	runner := &mas.Runner{Model: m, Tok: tok, Opt: opt}
	if f.method == "latent_mas_hybrid" {
		h, models, err := loadHybrid(&f, m, tok, stderr)
		if err != nil {
			return err
		}
		defer models.Close()
		runner.Hybrid = h
	}
	if f.method == "latent_mas" {
		ro := latent.RealignOptions{Enabled: f.realign, Lambda: f.ridge, Progress: stderr}
		if f.resize {
			ro.Rows = tok.Len()
		}
		if cd, err := os.UserCacheDir(); err == nil {
			ro.CacheDir = filepath.Join(cd, "latentmas", "realign")
		}
		r, st, err := latent.BuildRealigner(m, ro)
		if err != nil {
			return err
		}
		if f.realign {
			src := "computed"
			if st.FromCache {
				src = "from cache"
			}
			fmt.Fprintf(stderr, "realignment matrix %s in %.1fs (%s)\n", src, st.Elapsed.Seconds(), st.CacheFile)
		}
		runner.Realign = r
	}
	out := f.output
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("%s_%s_%s_%s", sanitize(f.model), f.task, f.method, f.prompt))
		if shardN > 1 {
			out += fmt.Sprintf("_shard%dof%d", shardI, shardN)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	client := hub.NewClientFromEnv()
	client.Offline = client.Offline || f.offline
	client.Progress = stderr
	cfg := eval.RunConfig{
		Task: f.task, MaxSamples: f.maxSamples, BatchSize: f.batch, ShardIndex: shardI, ShardCount: shardN,
		OutputDir: out, Resume: f.resume, Model: f.model, Log: stdout, Progress: stderr, Compute: map[bool]string{true: "bf16"}[m.BF16Activations()],
		Load: eval.LoadOptions{Split: f.split, DataPath: f.data, DataDir: f.dataDir, Fetcher: client},
	}
	if f.compareQuant {
		return compareQuantizations(ctx, cfg, runner, stdout, stderr)
	}
	fmt.Fprintf(stderr, "latentmas run: %s on %s (%s), %d threads, results in %s\n", f.method, f.task, f.model, m.Pool.Threads(), out)
	s, err := eval.Run(ctx, cfg, runner)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	fmt.Fprintln(stdout, string(b))
	return nil
}

// compareQuantizations runs the task once per latent width (16, 8, 4, 2
// bits), each into OUTPUT/quantB, really changing the width each time (the
// reference's version kept the first one, §6 Q1), and prints the table.
func compareQuantizations(ctx context.Context, cfg eval.RunConfig, runner *mas.Runner, stdout, stderr io.Writer) error {
	type row struct {
		bits     int
		mbStep   float64
		acc      float64
		n        int
		seconds  float64
		accRobus float64
	}
	var rows []row
	base := cfg.OutputDir
	D := runner.Model.Config.HiddenSize
	for _, bits := range []int{16, 8, 4, 2} {
		runner.Opt.QuantBits = bits
		cfg.OutputDir = filepath.Join(base, fmt.Sprintf("quant%d", bits))
		fmt.Fprintf(stderr, "latentmas run: latent width %d bits, results in %s\n", bits, cfg.OutputDir)
		s, err := eval.Run(ctx, cfg, runner)
		if err != nil {
			return err
		}
		rows = append(rows, row{bits, float64(latent.QuantBytes(D, bits)) / (1 << 20), s.Accuracy, s.Processed, s.TotalTimeSec, s.AccuracyRobust})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-18s | %-20s | %-16s | %-18s | %-15s | %s\n", "Quantization", "Bandwidth (MB/Step)", "Bandwidth Saving", fmt.Sprintf("Accuracy (n=%d)", rows[0].n), "Accuracy robust", "Total Time (s)")
	b.WriteString(strings.Repeat("-", 112) + "\n")
	for _, r := range rows {
		name := fmt.Sprintf("%d-bit", r.bits)
		if r.bits == 16 {
			name = "16-bit (Baseline)"
		}
		saving := (1 - r.mbStep/rows[0].mbStep) * 100
		fmt.Fprintf(&b, "%-18s | %-20.6f | %-16s | %-18.2f | %-15.2f | %.2f\n", name, r.mbStep, fmt.Sprintf("%.1f%%", saving), r.acc, r.accRobus, r.seconds)
	}
	fmt.Fprint(stdout, b.String())
	return os.WriteFile(filepath.Join(base, "quantization_comparison.log"), []byte(b.String()), 0o644)
}

// loadHybrid loads each distinct --agent_models checkpoint once (the
// --model_name one is reused) and builds the hybrid configuration.
func loadHybrid(f *runFlags, base *qwen.Model, baseTok *tokenizer.Tokenizer, stderr io.Writer) (*mas.Hybrid, mas.LoadedModels, error) {
	names := f.agentModels
	if len(names) == 0 {
		names = []string{f.model, f.model, f.model, f.model}
	}
	models := mas.LoadedModels{f.model: {Name: f.model, Model: base, Tok: baseTok}}
	extra := mas.LoadedModels{}
	var agents [4]*mas.AgentModel
	for i, n := range names {
		if models[n] == nil {
			fmt.Fprintf(stderr, "hybrid: loading additional model %s\n", n)
			dir, err := resolveModel(n, f.offline, stderr)
			if err != nil {
				extra.Close()
				return nil, nil, err
			}
			tok, err := tokenizer.Load(dir)
			if err != nil {
				extra.Close()
				return nil, nil, err
			}
			m, err := loadQwen(dir, qwen.Options{Threads: f.threads, BF16Activations: f.compute == "bf16", HugePages: f.hugePages}, stderr)
			if err != nil {
				extra.Close()
				return nil, nil, err
			}
			models[n] = &mas.AgentModel{Name: n, Model: m, Tok: tok}
			extra[n] = models[n]
		}
		agents[i] = models[n]
	}
	seed := uint64(f.kernelSeed)
	if f.kernelSeed < 0 {
		seed = f.seed
	}
	opt := latent.AlignOptions{Ridge: f.alignRidge, Features: f.kernelFeatures, Temperature: f.kernelTemp, Seed: seed,
		ChunkSize: f.kernelChunk, Progress: stderr}
	if cd, err := os.UserCacheDir(); err == nil {
		opt.CacheDir = filepath.Join(cd, "latentmas", "align")
	}
	h, err := mas.NewHybrid(agents, f.alignMethod, opt)
	if err != nil {
		extra.Close()
		return nil, nil, err
	}
	models.Describe(stderr)
	return h, extra, nil
}

// sanitize makes a model reference usable in a file name.
func sanitize(s string) string {
	s = strings.TrimRight(s, "/")
	if st, err := os.Stat(s); err == nil && st.IsDir() {
		s = filepath.Base(s)
	}
	return strings.NewReplacer("/", "_", "\\", "_", ":", "_", " ", "_").Replace(s)
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge", `Usage: latentmas merge --output DIR SHARD_DIR...

Combines the results.jsonl of sharded runs (latentmas run --shard i/n) into
DIR/results.jsonl and DIR/summary.json, and prints the summary.`, stderr)
	out := fs.String("output", "", "folder for the merged results (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("give --output and at least one shard folder")
	}
	s, err := eval.Merge(fs.Args(), *out)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	fmt.Fprintln(stdout, string(b))
	return nil
}
