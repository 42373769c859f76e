package main

import (
	"strings"
	"testing"
)

func TestDemoShowsEveryStage(t *testing.T) {
	code, stdout, stderr := run(t, "demo", "--latent_steps", "3", "--max_new_tokens", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"random", "meaningless", // says plainly the answers mean nothing
		"=== baseline ===", "SingleAgent", "=== text_mas ===", "=== latent_mas ===",
		"stage: text_mas: Planner writes text", "stage: text_mas: Judger writes text",
		"stage: latent_mas: Planner thinks (3 latent steps)", "stage: latent_mas: Critic thinks (3 latent steps)",
		"stage: latent_mas: Refiner thinks (3 latent steps)", "stage: latent_mas: Judger decodes",
		"3 latent steps | KV memory", "9 latent steps", "peak KV", "decode",
		"latentmas run --method latent_mas --model_name Qwen/", // how to run a real model
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// The latent working memory grows agent by agent.
	if strings.Count(stdout, "KV memory") != 1+4+4 {
		t.Errorf("expected 9 agent lines:\n%s", stdout)
	}
}
