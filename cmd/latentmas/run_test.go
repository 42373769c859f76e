package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latentmas/latentmas/internal/golden"
)

func gsm8kData(t *testing.T) string {
	t.Helper()
	root, err := golden.Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "..", "data", "gsm8k", "test.jsonl")
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func runArgs(t *testing.T, out string, extra ...string) []string {
	return append([]string{"run", "--method", "latent_mas", "--model_name", goldenModel(t, "qwen3-tiny"),
		"--task", "gsm8k", "--data", gsm8kData(t), "--latent_steps", "2", "--max_new_tokens", "6",
		"--temperature", "0.6", "--output", out}, extra...)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The end-to-end run writes a per-problem log, results, and a valid summary.
func TestRunEndToEnd(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := run(t, runArgs(t, out, "--max_samples", "5", "--generate_bs", "2", "--latent_space_realign", "--think")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !hasAll(stdout, "==================== Problem #5 ====================", "----- Agent: Planner (planner) -----",
		"[Latent Steps]\n2\n", "----- Agent: Judger (judger) -----", "Result: Pred=", strings.Repeat("-", 46)) {
		t.Errorf("per-problem log incomplete:\n%s", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last line is not the JSON summary: %v", err)
	}
	for _, k := range []string{"method", "model", "split", "seed", "max_samples", "accuracy", "correct", "total_time_sec",
		"time_per_sample_sec", "accuracy_robust", "generated_tokens", "latent_steps", "peak_kv_bytes", "prefill_tok_s", "decode_tok_s"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	if s["processed"].(float64) != 5 || s["latent_steps"].(float64) != 5*3*2 {
		t.Errorf("summary: %v", s)
	}
	if n := strings.Count(readFile(t, filepath.Join(out, "results.jsonl")), "\n"); n != 5 {
		t.Errorf("results.jsonl has %d lines", n)
	}
	var disk map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, "summary.json"))), &disk); err != nil || disk["accuracy"] != s["accuracy"] {
		t.Errorf("summary.json: %v %v", err, disk)
	}
	// ... and the report over it.
	html := filepath.Join(t.TempDir(), "report.html")
	if code, _, stderr := run(t, "report", "--output", html, out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	if page := readFile(t, html); !hasAll(page, "<svg", "latent_mas · gsm8k · qwen3-tiny", "<td>5</td>", "accuracy (robust)", "Planner", "Judger", "95% CI") {
		t.Errorf("report lacks expected content:\n%s", page)
	}
}

// Same seed ⇒ identical results.jsonl whatever --threads and --generate_bs.
func TestRunIndependentOfThreadsAndBatch(t *testing.T) {
	var ref string
	for _, v := range [][2]string{{"1", "1"}, {"2", "3"}, {"2", "4"}} {
		out := t.TempDir()
		if code, _, stderr := run(t, runArgs(t, out, "--max_samples", "4", "--threads", v[0], "--generate_bs", v[1])...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := readFile(t, filepath.Join(out, "results.jsonl"))
		if ref == "" {
			ref = got
		} else if got != ref {
			t.Errorf("threads %s, generate_bs %s: results.jsonl differs", v[0], v[1])
		}
	}
}

// A run killed with SIGKILL and resumed gives the same results.jsonl as an
// uninterrupted one.
func TestRunKillAndResume(t *testing.T) {
	full := t.TempDir()
	args := []string{"--max_samples", "8", "--generate_bs", "1", "--max_new_tokens", "40", "--threads", "1"}
	if code, _, stderr := run(t, runArgs(t, full, args...)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := readFile(t, filepath.Join(full, "results.jsonl"))

	out := t.TempDir()
	results := filepath.Join(out, "results.jsonl")
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, runArgs(t, out, args...)...)...)
	cmd.Env = append(os.Environ(), "LATENTMAS_AS_CLI=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(results)
		if n := bytes.Count(b, []byte("\n")); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress before the kill: %s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	partial := readFile(t, results)
	if n := strings.Count(partial, "\n"); n >= 8 {
		t.Skipf("the run finished (%d lines) before it could be killed; nothing to resume", n)
	}
	t.Logf("killed after %d of 8 problems", strings.Count(partial, "\n"))
	if code, _, stderr := run(t, runArgs(t, out, append(args, "--resume")...)...); code != 0 || !strings.Contains(stderr, "resuming:") {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if got := readFile(t, results); got != want {
		t.Errorf("resumed results.jsonl differs from an uninterrupted run:\n%s\nwant\n%s", got, want)
	}
}

func TestShardAndMerge(t *testing.T) {
	full, a, b, merged := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	for _, o := range [][]string{{full}, {a, "--shard", "0/2"}, {b, "--shard", "1/2"}} {
		if code, _, stderr := run(t, runArgs(t, o[0], append([]string{"--max_samples", "5"}, o[1:]...)...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	code, stdout, stderr := run(t, "merge", "--output", merged, a, b)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	if got, want := readFile(t, filepath.Join(merged, "results.jsonl")), readFile(t, filepath.Join(full, "results.jsonl")); got != want {
		t.Error("merged shards differ from the unsharded run")
	}
	if !strings.Contains(stdout, `"processed":5`) {
		t.Errorf("merged summary: %s", stdout)
	}
	if code, _, stderr := run(t, "merge", "--output", merged, a, a); code != 1 || !strings.Contains(stderr, "more than one shard") {
		t.Errorf("duplicate shard: exit %d %s", code, stderr)
	}
}

// kNN pruning runs before critic, refiner and judger and is recorded.
func TestRunKNN(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := run(t, runArgs(t, out, "--max_samples", "2", "--knn_filter", "--knn_percentage", "0.5",
		"--knn_min_keep", "2", "--knn_strategy", "random")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(out, "results.jsonl"))), "\n") {
		var rec struct {
			Agents []struct {
				Name   string
				Pruned *struct {
					Before int   `json:"positions_before"`
					Kept   int   `json:"positions_kept"`
					BB     int64 `json:"kv_bytes_before"`
					BA     int64 `json:"kv_bytes_after"`
				} `json:"knn"`
			}
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		for i, a := range rec.Agents {
			if (i == 0) != (a.Pruned == nil) {
				t.Fatalf("%s: pruning record %+v (only the planner runs unpruned)", a.Name, a.Pruned)
			}
			if a.Pruned != nil && (a.Pruned.Kept != max(a.Pruned.Before/2, 2) || a.Pruned.BA >= a.Pruned.BB) {
				t.Errorf("%s: kept %d of %d, bytes %d -> %d", a.Name, a.Pruned.Kept, a.Pruned.Before, a.Pruned.BB, a.Pruned.BA)
			}
		}
	}
}

// --compare_quantizations really changes the width on every run.
func TestCompareQuantizations(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := run(t, runArgs(t, out, "--max_samples", "2", "--compare_quantizations", "--temperature", "0", "--max_new_tokens", "30")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !hasAll(stdout, "Quantization", "Bandwidth (MB/Step)", "16-bit (Baseline)", "8-bit", "4-bit", "2-bit", "50.0%", "75.0%", "87.5%") {
		t.Errorf("comparison table:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "quantization_comparison.log")); err != nil {
		t.Error(err)
	}
	// Different widths feed different latents, so the KV caches differ.
	var kv []string
	for _, b := range []string{"16", "2"} {
		var rec struct {
			Agents []struct{ Output string }
			Bytes  int64 `json:"latent_bytes"`
		}
		line := strings.SplitN(readFile(t, filepath.Join(out, "quant"+b, "results.jsonl")), "\n", 2)[0]
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		kv = append(kv, rec.Agents[3].Output)
		if want := int64(3 * 2 * 64 * map[string]int{"16": 16, "2": 2}[b] / 8); rec.Bytes != want {
			t.Errorf("%s-bit: latent bytes %d, want %d", b, rec.Bytes, want)
		}
	}
	if kv[0] == kv[1] {
		t.Errorf("16-bit and 2-bit latents gave the same judger output %q: was the width applied?", kv[0])
	}
}

// The hybrid method runs through the CLI with the reference's spelling of
// --agent_models and records which model ran each agent.
func TestRunHybrid(t *testing.T) {
	out := t.TempDir()
	q2, q3 := goldenModel(t, "qwen2-tiny"), goldenModel(t, "qwen3-tiny")
	args := []string{"run", "--method", "latent_mas_hybrid", "--model_name", q3, "--task", "gsm8k", "--data", gsm8kData(t),
		"--latent_steps", "2", "--max_new_tokens", "4", "--max_samples", "2", "--output", out, "--align_method", "linear",
		"--agent_models", q2, q3, q3, q2}
	code, stdout, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "loading additional model "+q2) || strings.Contains(stderr, "loading additional model "+q3) {
		t.Errorf("each distinct model must be loaded once, the --model_name one reused: %s", stderr)
	}
	if !strings.Contains(stdout, `"method":"latent_mas_hybrid"`) {
		t.Errorf("summary: %s", stdout)
	}
	line := strings.SplitN(readFile(t, filepath.Join(out, "results.jsonl")), "\n", 2)[0]
	var rec struct {
		Agents []struct {
			Model    string
			Switched bool
		}
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Agents) != 4 || rec.Agents[0].Model != q2 || rec.Agents[1].Model != q3 || !rec.Agents[1].Switched || rec.Agents[2].Switched || !rec.Agents[3].Switched {
		t.Errorf("agents: %+v", rec.Agents)
	}
	if code, _, stderr := run(t, append(args[:len(args)-1], "--output", t.TempDir())...); code != 1 || !strings.Contains(stderr, "exactly 4 models") {
		t.Errorf("3 agent models: exit %d %s", code, stderr)
	}
}

func TestRunFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--model_name", "x"}, "--method and --model_name are required"},
		{[]string{"run", "--method", "magic", "--model_name", "x"}, `unknown method "magic"`},
		{[]string{"run", "--method", "baseline", "--model_name", "x", "--task", "trivia"}, `unknown task "trivia"`},
		{[]string{"run", "--method", "baseline", "--model_name", "x", "--use_vllm"}, "--use_vllm is not supported"},
		{[]string{"run", "--method", "baseline", "--model_name", "x", "--shard", "2/2"}, "--shard must be i/n"},
		{[]string{"run", "--method", "latent_mas", "--model_name", "x", "--prompt", "circular"}, "sequential or hierarchical"},
		{[]string{"run", "--method", "text_mas", "--model_name", "x", "--knn_filter"}, "--knn_filter needs --method latent_mas"},
		{[]string{"run", "--method", "latent_mas", "--model_name", "x", "--quant_bits", "3"}, "--quant_bits must be 16, 8, 4 or 2"},
		{[]string{"run", "--method", "baseline", "--model_name", "x", "--quant_bits", "8"}, "need --method latent_mas"},
		{[]string{"run", "--method", "latent_mas", "--model_name", "x", "--knn_filter", "--knn_strategy", "best"}, "--knn_strategy must be"},
		{[]string{"run", "--method", "latent_mas", "--model_name", "x", "--knn_filter", "--knn_positions", "shift"}, "--knn_positions must be"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --resume refuses a directory written with other settings, naming them,
// instead of mixing two experiments in one results.jsonl.
func TestRunResumeOtherSettings(t *testing.T) {
	out := t.TempDir()
	if code, _, stderr := run(t, runArgs(t, out, "--max_samples", "1", "--max_new_tokens", "8")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	before := readFile(t, filepath.Join(out, "results.jsonl"))
	code, _, stderr := run(t, runArgs(t, out, "--max_samples", "2", "--max_new_tokens", "9", "--compute", "bf16", "--resume")...)
	if code != 1 || !strings.Contains(stderr, "options.MaxNewTokens: 8 -> 9") || !strings.Contains(stderr, `compute: "" -> "bf16"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if got := readFile(t, filepath.Join(out, "results.jsonl")); got != before {
		t.Error("the refused resume changed results.jsonl")
	}
	// The same settings resume.
	if code, _, stderr := run(t, runArgs(t, out, "--max_samples", "2", "--max_new_tokens", "8", "--resume")...); code != 0 {
		t.Fatalf("same settings: exit %d: %s", code, stderr)
	}
}
