package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/latentmas/latentmas/bench"
	"github.com/latentmas/latentmas/model/qwen"
)

func init() {
	register(command{
		name:    "bench",
		summary: "measure prefill/decode speed on a random model with real Qwen shapes, against this machine's limits",
		run:     runBench,
	})
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", `Usage: latentmas bench [--shape qwen3-0.6b] [--dtype bf16] [--compute f32] [--prompt 512] [--gen 128] [--rounds 3] [--threads N] [--json]

Builds a model with random weights and the exact shapes of a real Qwen
checkpoint (qwen2.5-0.5b, qwen3-0.6b, qwen3-4b) in memory, measures this
machine's memory read bandwidth (over the model's weights, the first
512 MB) and peak FMA/BF16 throughput with the project's own kernels,
then times a prefill and a greedy decode, in rounds that each measure
the limits next to their own work (the best round against the best
limit: steady on a shared machine). Decode is reported as a fraction of
the bandwidth (weights read per token ÷ time), and again interleaved:
each round decodes as many tokens more, each right after one read of
all its weights by as many threads, and prints the median token's rate
over the median read's (like with like: a token timed once against a
read timed once at the moment next to it, where the best-of ratio sets
the best round against the best of many reads, these included, and the
host's bandwidth moves between them); prefill as a fraction of the peak
FLOP/s of the arithmetic used: float32 FMA by default, VDPBF16PS with
--compute bf16 (bf16 weights only: the activations are rounded to
bfloat16 before each matrix product, as in a bfloat16 PyTorch model;
faster, but no longer float32-exact). The weights are in huge pages
unless --hugepages=false (see --hugepages of run, generate and logits).`, stderr)
	shape := fs.String("shape", "qwen3-0.6b", "model shape: qwen2.5-0.5b, qwen3-0.6b, qwen3-4b")
	dtype := fs.String("dtype", "bf16", "weight dtype: bf16, f32, f16")
	prompt := fs.Int("prompt", 512, "prefill tokens")
	gen := fs.Int("gen", 128, "decoded tokens")
	compute := fs.String("compute", "f32", computeHelp)
	threads := fs.Int("threads", 0, "worker threads (0 = all cores)")
	rounds := fs.Int("rounds", 3, "rounds; each figure is the best round against the best limit measured")
	asJSON := fs.Bool("json", false, "print one JSON object")
	hugePages := fs.Bool("hugepages", true, "random weights in transparent huge pages, as --hugepages loads a checkpoint's; false: 4 KiB pages, as a memory-mapped checkpoint's are without it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *prompt < 1 || *gen < 0 || *rounds < 1 {
		return fmt.Errorf("--prompt and --rounds must be ≥ 1 and --gen ≥ 0")
	}
	dt, err := bench.ParseDType(*dtype)
	if err != nil {
		return err
	}
	bf16Act, err := parseCompute(*compute)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "building a random %s model (%s)...\n", *shape, *dtype)
	m, err := bench.NewModel(*shape, dt, qwen.Options{Threads: *threads, BF16Activations: bf16Act, HugePages: *hugePages})
	if err != nil {
		return err
	}
	defer m.Close()
	r, err := bench.RunModel(m, *shape, *prompt, *gen, *rounds, func(round int) {
		fmt.Fprintf(stderr, "round %d/%d: machine limits with %d threads, prefill %d tokens, decode %d tokens, then %[5]d more each after a read of the weights...\n",
			round+1, *rounds, m.Pool.Threads(), *prompt, *gen)
	})
	if err != nil {
		return err
	}
	lim := r.Limits
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	pages := "4 KiB pages"
	if r.HugePages {
		pages = "huge pages"
	}
	fmt.Fprintf(stdout, "%s %s weights in %s, %s compute, %d threads, kernels %s\n", r.Shape, r.DType, pages, r.Compute, r.Threads, r.Dispatch)
	fmt.Fprintf(stdout, "machine: read %.1f GB/s, f32 FMA %.0f GFLOP/s, BF16 %.0f GFLOP/s\n", lim.ReadGBs, lim.PeakFMAGFlop, lim.PeakBF16)
	of := fmt.Sprintf("%.0f%% of BF16 peak", 100*r.PrefillBF16PeakFraction)
	if r.Compute != "bf16" {
		of = fmt.Sprintf("%.0f%% of f32 FMA peak, %s", 100*r.PrefillPeakFraction, of)
	}
	fmt.Fprintf(stdout, "prefill %d: %.1f tok/s, %.1f GFLOP/s (%s)\n", r.PromptTokens, r.PrefillTokS, r.PrefillGFlops, of)
	fmt.Fprintf(stdout, "decode  %d: %.1f tok/s, %.1f GB/s of weights (%.0f%% of bandwidth; %.0f%% with the KV cache's %.0f MB a token)\n",
		r.GenTokens, r.DecodeTokS, r.DecodeGBs, 100*r.DecodeBWFraction, 100*r.DecodeReadFraction, float64(r.DecodeKVBytes)/1e6)
	if r.DecodeBWFractionInterleaved > 0 {
		fmt.Fprintf(stdout, "decode interleaved with single reads of its weights: median token %.0f%% of the median read's bandwidth (quartiles %.0f–%.0f%%)\n",
			100*r.DecodeBWFractionInterleaved, 100*r.DecodeBWFractionInterleavedIQR[0], 100*r.DecodeBWFractionInterleavedIQR[1])
	}
	return nil
}
