package mas

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

var questions = []string{
	"Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
	"Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
	"Betty is saving money for a new wallet which costs $100. How much more money does she need?",
}

func goldenRunner(t *testing.T, name string, opt Options) *Runner {
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
	r, _, err := latent.BuildRealigner(m, latent.RealignOptions{Enabled: true, Lambda: 1e-5, Rows: tok.Len()})
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Model: m, Tok: tok, Realign: r, Opt: opt}
}

func problems(idx ...int) []Problem {
	var ps []Problem
	for _, i := range idx {
		ps = append(ps, Problem{Index: i, Family: Math, Question: questions[i]})
	}
	return ps
}

// A question's result must not depend on the batch it runs in.
func TestBatchIndependence(t *testing.T) {
	for _, method := range []string{"latent_mas", "text_mas", "baseline"} {
		for _, temp := range []float64{0, 0.6} {
			opt := Options{Method: method, Arch: "sequential", LatentSteps: 3, MaxNewTokens: 6, ContextLength: -1, Seed: 9,
				Sampling: SamplingConfig{Temperature: temp, TopK: 20, TopP: 0.95, EOS: []int{151645, 151643}}}
			r := goldenRunner(t, "qwen3-tiny", opt)
			batched, _, err := r.Solve(problems(0, 1, 2))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				single, _, err := r.Solve(problems(i))
				if err != nil {
					t.Fatal(err)
				}
				if !equalIgnoringTime(single[0], batched[i]) {
					t.Errorf("%s T=%g question %d: batch of 1 and batch of 3 differ:\n%q\n%q", method, temp, i, single[0].Output, batched[i].Output)
				}
			}
		}
	}
}

func equalIgnoringTime(a, b Result) bool {
	for i := range a.Agents {
		a.Agents[i].Seconds = 0
	}
	for i := range b.Agents {
		b.Agents[i].Seconds = 0
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// The working memory grows as REFERENCE.md §2.3 says: after each non-judger
// agent by its prompt plus L; latent_only keeps L; sequential_info_only
// keeps the last agent's share; L = 0 leaves the judger without a cache.
func TestLatentCacheArithmetic(t *testing.T) {
	const L = 2
	base := Options{Method: "latent_mas", Arch: "sequential", LatentSteps: L, MaxNewTokens: 1, ContextLength: -1,
		Sampling: SamplingConfig{Temperature: 0, TopP: 1}}
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   func(n []int) []int // KV positions after planner, critic, refiner, judger (n = prompt lengths)
	}{
		{"full", func(*Options) {}, func(n []int) []int {
			return []int{n[0] + L, n[0] + n[1] + 2*L, n[0] + n[1] + n[2] + 3*L, n[0] + n[1] + n[2] + 3*L + n[3]}
		}},
		{"latent_only", func(o *Options) { o.LatentOnly = true }, func(n []int) []int { return []int{L, L, L, L + n[3]} }},
		{"sequential_info_only", func(o *Options) { o.SequentialInfoOnly = true }, func(n []int) []int {
			return []int{n[0] + L, n[1] + L, n[2] + L, n[2] + L + n[3]}
		}},
		{"L=0", func(o *Options) { o.LatentSteps = 0 }, func(n []int) []int { return []int{n[0], n[0] + n[1], n[0] + n[1] + n[2], n[3]} }},
		{"think", func(o *Options) { o.Think = true }, func(n []int) []int {
			return []int{n[0] + L, n[0] + n[1] + 2*L, n[0] + n[1] + n[2] + 3*L, n[0] + n[1] + n[2] + 3*L + n[3]}
		}},
	} {
		opt := base
		tc.mutate(&opt)
		r := goldenRunner(t, "qwen2-tiny", opt)
		res, _, err := r.Solve(problems(0))
		if err != nil {
			t.Fatal(err)
		}
		var n, got []int
		for _, a := range res[0].Agents {
			n = append(n, a.InputTokens)
			got = append(got, a.KVPositions)
			if opt.Think && !strings.HasSuffix(a.Input, "<think>") {
				t.Errorf("%s: %s prompt lacks <think>", tc.name, a.Name)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want(n)) {
			t.Errorf("%s: KV positions after each agent %v, want %v (prompt lengths %v)", tc.name, got, tc.want(n), n)
		}
		if res[0].PeakKVBytes < res[0].Agents[3].KVBytes || res[0].LatentSteps != 3*opt.LatentSteps {
			t.Errorf("%s: peak %d, latent steps %d", tc.name, res[0].PeakKVBytes, res[0].LatentSteps)
		}
	}
}

func TestTextMASContext(t *testing.T) {
	if got := cutContext("héllo", -1); got != "héllo" {
		t.Errorf("-1 must keep everything, got %q", got)
	}
	if got := cutContext("héllo", 2); got != "hé" {
		t.Errorf("2 characters: %q", got)
	}
	if got := cutContext("héllo", 0); got != "" {
		t.Errorf("0: %q", got)
	}
	r := goldenRunner(t, "qwen2-tiny", Options{Method: "text_mas", Arch: "sequential", MaxNewTokens: 3, ContextLength: -1,
		Sampling: SamplingConfig{Temperature: 0, TopP: 1}})
	res, _, err := r.Solve(problems(1))
	if err != nil {
		t.Fatal(err)
	}
	a := res[0].Agents
	if len(a) != 4 || !strings.Contains(a[1].Input, "[Planner]:\n"+a[0].Output) || !strings.Contains(a[3].Input, "[Refiner]:\n"+a[2].Output) {
		t.Errorf("context not passed on: critic input %q", a[1].Input)
	}
}

func TestPromptsCarryFormatContracts(t *testing.T) {
	for _, f := range []Family{Math, MC, Code} {
		for _, arch := range []string{"sequential", "hierarchical"} {
			for _, role := range Roles {
				for name, build := range map[string]func() (Messages, error){
					"latent": func() (Messages, error) { return LatentPrompt(arch, role, f, "Q?") },
					"text":   func() (Messages, error) { return TextPrompt(arch, role, f, "Q?", "CTX") },
				} {
					m, err := build()
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(m.User, "Q?") || m.System != SystemPrompt {
						t.Errorf("%s %s %s %s: question or system missing", name, arch, role, f)
					}
					final := role == Judger || arch == "hierarchical"
					if final && f == Code && !strings.Contains(m.User, "```python") {
						t.Errorf("%s %s %s %s: no python block format", name, arch, role, f)
					}
					if final && f != Code && !strings.Contains(m.User, `\boxed{`) {
						t.Errorf("%s %s %s %s: no boxed format", name, arch, role, f)
					}
					if final && f == MC && !strings.Contains(m.User, "A, B, C and D") {
						t.Errorf("%s %s %s %s: no A-D constraint", name, arch, role, f)
					}
				}
			}
		}
	}
	if _, err := LatentPrompt("circular", Planner, Math, "q"); err == nil {
		t.Error("unknown architecture accepted")
	}
}
