package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
)

type tokenizeLine struct {
	IDs  []int  `json:"ids"`
	Text string `json:"text"`
}

func TestTokenizeText(t *testing.T) {
	dir := goldenModel(t, "qwen3-tiny")
	code, out, errs := run(t, "tokenize", "--model", dir, "The quick brown fox jumps")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got tokenizeLine
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if want := []int{785, 3974, 13876, 38835, 34208}; !equalInts(got.IDs, want) || got.Text != "The quick brown fox jumps" {
		t.Errorf("got %+v, want ids %v", got, want)
	}

	code, out, errs = run(t, "tokenize", "--model", dir, "--decode", "151644,9707,151645", "--skip_special_tokens")
	if code != 0 || strings.TrimSpace(out) != `{"text":"Hello"}` {
		t.Errorf("--decode: exit %d, out %q, err %q", code, out, errs)
	}
	code, out, _ = run(t, "tokenize", "--model", dir, "--decode", "151644,9707")
	if code != 0 || strings.TrimSpace(out) != `{"text":"<|im_start|>Hello"}` { // no HTML escaping
		t.Errorf("--decode without skipping: exit %d, out %q", code, out)
	}
}

// TestTokenizeGoldenChats runs every chat of tokenizer_golden.json through
// --jsonl and one through --chat.
func TestTokenizeGoldenChats(t *testing.T) {
	root, err := golden.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "tokenizer", "tokenizer_golden.json"))
	if err != nil {
		t.Fatalf("golden data missing: %v", err)
	}
	var g struct {
		Strings []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"strings"`
		Chats []struct {
			Messages            json.RawMessage `json:"messages"`
			AddGenerationPrompt bool            `json:"add_generation_prompt"`
			EnableThinking      *bool           `json:"enable_thinking"`
			Text                string          `json:"text"`
			IDs                 []int           `json:"ids"`
		} `json:"chats"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	var want []tokenizeLine
	for _, s := range g.Strings {
		line, _ := json.Marshal(map[string]string{"text": s.Text})
		in.Write(line)
		in.WriteString("\n\n") // blank lines are skipped
		want = append(want, tokenizeLine{s.IDs, s.Text})
	}
	for _, c := range g.Chats {
		req := map[string]any{"messages": c.Messages, "add_generation_prompt": c.AddGenerationPrompt}
		if c.EnableThinking != nil {
			req["enable_thinking"] = *c.EnableThinking
		}
		line, _ := json.Marshal(req)
		in.Write(line)
		in.WriteByte('\n')
		want = append(want, tokenizeLine{c.IDs, c.Text})
	}
	tmp := t.TempDir()
	jsonl := filepath.Join(tmp, "in.jsonl")
	if err := os.WriteFile(jsonl, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := goldenModel(t, "qwen3-tiny")
	code, out, errs := run(t, "tokenize", "--model", dir, "--jsonl", jsonl)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d output lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		var got tokenizeLine
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v: %q", i+1, err, l)
		}
		if got.Text != want[i].Text || !equalInts(got.IDs, want[i].IDs) {
			t.Errorf("line %d: got %+v\nwant %+v", i+1, got, want[i])
		}
	}

	// --chat with a bare array and the flags
	c := g.Chats[len(g.Chats)-1]
	chatFile := filepath.Join(tmp, "chat.json")
	if err := os.WriteFile(chatFile, c.Messages, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"tokenize", "--model", dir, "--chat", chatFile}
	if c.EnableThinking != nil {
		args = append(args, "--enable_thinking", map[bool]string{true: "true", false: "false"}[*c.EnableThinking])
	}
	if !c.AddGenerationPrompt {
		args = append(args, "--add_generation_prompt=false")
	}
	code, out, errs = run(t, args...)
	var got tokenizeLine
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Text != c.Text || !equalInts(got.IDs, c.IDs) {
		t.Errorf("--chat: exit %d, out %q, err %q", code, out, errs)
	}
}

func TestTokenizeErrors(t *testing.T) {
	dir := goldenModel(t, "qwen3-tiny")
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"text\": \"ok\"}\n{\"nope\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"tokenize", "x"}, "--model"},
		{[]string{"tokenize", "--model", tmp, "x"}, "tokenizer.json"},
		{[]string{"tokenize", "--model", dir, "--enable_thinking", "maybe", "x"}, "enable_thinking"},
		{[]string{"tokenize", "--model", dir, "--chat", "a", "--jsonl", "b"}, "exclude"},
		{[]string{"tokenize", "--model", dir, "--jsonl", bad}, "bad.jsonl:2"},
		{[]string{"tokenize", "--model", dir, "--decode", "1,x"}, "not an integer"},
		{[]string{"tokenize", "--model", dir, "a", "b"}, "at most one TEXT"},
	} {
		code, _, errs := run(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.mention) {
			t.Errorf("%v: exit %d, stderr %q; want an error mentioning %q", tc.args, code, errs, tc.mention)
		}
	}
	if code, out, _ := run(t, "tokenize", "--help"); code != 0 || out != "" {
		t.Errorf("--help: exit %d", code)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
