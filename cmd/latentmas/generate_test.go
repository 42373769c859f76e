package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
)

// generate --temperature 0 on the chat-templated P_mid prompt reproduces the
// golden prompt ids and greedy ids, through the CLI's own code path.
func TestGenerateGreedyMatchesGolden(t *testing.T) {
	root, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "tokenizer", "tokenizer_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tg struct {
		Chats []struct {
			Name     string `json:"name"`
			Messages []struct {
				Role, Content string
			} `json:"messages"`
		} `json:"chats"`
	}
	if err := json.Unmarshal(raw, &tg); err != nil {
		t.Fatal(err)
	}
	var user string
	for _, c := range tg.Chats {
		if c.Name == "prompt:P_mid" && len(c.Messages) == 1 && c.Messages[0].Role == "user" {
			user = c.Messages[0].Content
		}
	}
	if user == "" {
		t.Fatal("tokenizer golden has no single-user-message prompt:P_mid chat")
	}
	checked := 0
	for _, s := range sets {
		if !s.Has("greedy.P_mid") || !strings.HasPrefix(s.Name, "qwen3") {
			continue
		}
		var want struct {
			IDs []int `json:"ids"`
		}
		var prompt struct {
			IDs []int `json:"ids"`
		}
		if err := s.Decode("greedy.P_mid", &want); err != nil {
			t.Fatal(err)
		}
		if err := s.Decode("prompts.P_mid", &prompt); err != nil {
			t.Fatal(err)
		}
		t.Logf("checking generate on %s", s.Checkpoint)
		code, stdout, stderr := run(t, "generate", "--model", s.Checkpoint, "--chat", "--prompt", user,
			"--temperature", "0", "--max_new_tokens", fmt.Sprint(len(want.IDs)), "--json", "--threads", "2")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got struct {
			PromptIDs []int `json:"prompt_ids"`
			IDs       []int `json:"ids"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		if fmt.Sprint(got.PromptIDs) != fmt.Sprint(prompt.IDs) {
			t.Errorf("prompt ids\n got %v\nwant %v", got.PromptIDs, prompt.IDs)
		}
		if fmt.Sprint(got.IDs) != fmt.Sprint(want.IDs) {
			t.Errorf("greedy ids\n got %v\nwant %v", got.IDs, want.IDs)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no qwen3 golden set with greedy.P_mid")
	}
}

func TestGenerateStreamsAndSummarises(t *testing.T) {
	code, stdout, stderr := run(t, "generate", "--model", goldenModel(t, "qwen2-tiny"), "--prompt", "Hello", "--max_new_tokens", "5", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout == "" || !strings.Contains(stderr, "1 prompt tokens, 5 new tokens") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	for _, tc := range []struct{ args, want string }{
		{"generate --model " + goldenModel(t, "qwen2-tiny"), "exactly one of --prompt and --ids"},
		{"generate --model /nonexistent/dir --prompt x", "neither a directory nor a Hugging Face repo id"},
		{"generate --model " + goldenModel(t, "qwen2-tiny") + " --prompt x --top_p 1.5", "top_p must be in (0, 1]"},
	} {
		code, _, stderr := run(t, strings.Fields(tc.args)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
