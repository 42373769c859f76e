package mas

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

func agentModel(t *testing.T, name string) *AgentModel {
	t.Helper()
	root, err := golden.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "models", name)
	m, err := qwen.Load(dir, qwen.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &AgentModel{Name: name, Model: m, Tok: tok}
}

// With one model for every agent, the hybrid method is latent_mas step for
// step (linear alignment = realignment on).
func TestHybridWithoutSwitchIsLatentMAS(t *testing.T) {
	opt := Options{Method: "latent_mas", Arch: "sequential", LatentSteps: 3, MaxNewTokens: 8, ContextLength: -1, Seed: 3,
		Sampling: SamplingConfig{Temperature: 0.6, TopK: 20, TopP: 0.95}}
	r := goldenRunner(t, "qwen3-tiny", opt)
	want, _, err := r.Solve(problems(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	a := agentModel(t, "qwen3-tiny")
	h, err := NewHybrid([4]*AgentModel{a, a, a, a}, latent.AlignLinear, latent.AlignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt.Method = "latent_mas_hybrid"
	got, _, err := (&Runner{Model: a.Model, Tok: a.Tok, Hybrid: h, Opt: opt}).Solve(problems(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].Output != want[i].Output || got[i].PeakKVBytes != want[i].PeakKVBytes {
			t.Errorf("problem %d: hybrid %q (peak %d), latent_mas %q (peak %d)", i, got[i].Output, got[i].PeakKVBytes, want[i].Output, want[i].PeakKVBytes)
		}
		for k, ag := range got[i].Agents {
			if ag.Model != "qwen3-tiny" || ag.Switched || ag.KVPositions != want[i].Agents[k].KVPositions {
				t.Errorf("problem %d agent %s: %+v", i, ag.Name, ag)
			}
		}
	}
}

// At a model switch the working memory is rebuilt for the new model from
// the re-encoded earlier prompts and the transferred latents (§2.6).
func TestHybridSwitchRebuildsMemory(t *testing.T) {
	const L = 2
	q2, q3 := agentModel(t, "qwen2-tiny"), agentModel(t, "qwen3-tiny")
	for _, method := range []string{latent.AlignIdentical, latent.AlignLinear, latent.AlignKernel} {
		if method == latent.AlignIdentical {
			continue // needs equal hidden sizes; both tiny models have 64, so it is covered below
		}
		h, err := NewHybrid([4]*AgentModel{q2, q3, q3, q2}, method, latent.AlignOptions{Features: 64, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var stages []string
		r := &Runner{Model: q2.Model, Tok: q2.Tok, Hybrid: h, Opt: Options{Method: "latent_mas_hybrid", Arch: "sequential",
			LatentSteps: L, MaxNewTokens: 3, ContextLength: -1, Sampling: SamplingConfig{Temperature: 0, TopP: 1}}}
		r.Stage = func(f string, a ...any) { stages = append(stages, f) }
		res, _, err := r.Solve(problems(0))
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		ag := res[0].Agents
		planText := q3.Tok.Encode(ag[0].Input)
		// Critic on qwen3: planner prompt re-encoded + L transferred latents, then its own prompt + L.
		if want := len(planText) + L + ag[1].InputTokens + L; ag[1].KVPositions != want || !ag[1].Switched {
			t.Errorf("%s: critic memory %d positions (switched %v), want %d", method, ag[1].KVPositions, ag[1].Switched, want)
		}
		if want := ag[1].KVPositions + ag[2].InputTokens + L; ag[2].KVPositions != want || ag[2].Switched {
			t.Errorf("%s: refiner memory %d, want %d", method, ag[2].KVPositions, want)
		}
		// Judger back on qwen2: all three prompts re-encoded, the critic's and
		// refiner's latents (2L) transferred; the planner's were dropped at
		// the first switch (§6 H2). Then the judger prompt and its tokens.
		prompts := len(q2.Tok.Encode(ag[0].Input + ag[1].Input + ag[2].Input))
		if want := prompts + 2*L + ag[3].InputTokens + ag[3].NewTokens - 1; ag[3].KVPositions != want || !ag[3].Switched {
			t.Errorf("%s: judger memory %d, want %d", method, ag[3].KVPositions, want)
		}
		if ag[0].Model != "qwen2-tiny" || ag[1].Model != "qwen3-tiny" || ag[3].Model != "qwen2-tiny" {
			t.Errorf("%s: models %s %s %s %s", method, ag[0].Model, ag[1].Model, ag[2].Model, ag[3].Model)
		}
		if !strings.Contains(strings.Join(stages, "\n"), "switching") {
			t.Errorf("%s: no switch reported", method)
		}
	}
	if _, err := NewHybrid([4]*AgentModel{q2, q3, q3, q2}, latent.AlignIdentical, latent.AlignOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHybrid([4]*AgentModel{q2, q3, q3, q2}, "spline", latent.AlignOptions{}); err == nil {
		t.Error("unknown align method accepted")
	}
}
