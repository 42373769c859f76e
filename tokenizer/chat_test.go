package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestChatCases renders testdata/chat_cases.json (made by
// testdata/gen_chat_cases.py with jinja2 in transformers' environment):
// tools and tojson, tool calls and results, reasoning_content, system
// messages after the first, thinking switches.
func TestChatCases(t *testing.T) {
	tok := qwen(t)
	b, err := os.ReadFile("testdata/chat_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []struct {
			Name                string            `json:"name"`
			Messages            json.RawMessage   `json:"messages"`
			Tools               []json.RawMessage `json:"tools"`
			AddGenerationPrompt bool              `json:"add_generation_prompt"`
			EnableThinking      *bool             `json:"enable_thinking"`
			Text                string            `json:"text"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no chat cases")
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := tok.ApplyChatTemplateJSON(c.Messages, ChatOptions{
				AddGenerationPrompt: c.AddGenerationPrompt, EnableThinking: c.EnableThinking, Tools: c.Tools})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Text {
				t.Errorf("render\n got %q\nwant %q", got, c.Text)
			}
		})
	}
}

func TestChatMessageAPI(t *testing.T) {
	tok := qwen(t)
	rc := "\nThink hard.\n"
	tests := []struct {
		name string
		msgs []Message
		opt  ChatOptions
		want string
	}{
		{"system+user, undefined thinking", []Message{{Role: "system", Content: "S"}, {Role: "user", Content: "\nU "}},
			ChatOptions{AddGenerationPrompt: true},
			"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n\nU <|im_end|>\n<|im_start|>assistant\n"},
		{"thinking off", []Message{{Role: "user", Content: "U"}}, ChatOptions{AddGenerationPrompt: true, EnableThinking: Bool(false)},
			"<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"thinking on", []Message{{Role: "user", Content: "U"}}, ChatOptions{AddGenerationPrompt: true, EnableThinking: Bool(true)},
			"<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"},
		{"no generation prompt", []Message{{Role: "user", Content: "U"}}, ChatOptions{},
			"<|im_start|>user\nU<|im_end|>\n"},
		{"reasoning_content", []Message{{Role: "user", Content: "U"}, {Role: "assistant", Content: "A", ReasoningContent: &rc}}, ChatOptions{},
			"<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n<think>\nThink hard.\n</think>\n\nA<|im_end|>\n"},
		{"think history stripped", []Message{{Role: "user", Content: "U"}, {Role: "assistant", Content: "<think>\nx\n</think>\n\nA"},
			{Role: "user", Content: "V"}}, ChatOptions{AddGenerationPrompt: true},
			"<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n"},
		{"template syntax in content is data", []Message{{Role: "user", Content: "{{ 1 + 1 }} {% if %}"}}, ChatOptions{},
			"<|im_start|>user\n{{ 1 + 1 }} {% if %}<|im_end|>\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tok.ApplyChatTemplate(tc.msgs, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestChatTemplateErrors(t *testing.T) {
	tok := qwen(t)
	for _, tc := range []struct{ name, json, want string }{
		{"not json", `[{"role":`, "chat messages"},
		{"not an array", `{"role": "user"}`, "not a JSON array"},
		{"not objects", `["hi"]`, "not a JSON object"},
	} {
		if _, err := tok.ApplyChatTemplateJSON([]byte(tc.json), ChatOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	// raise_exception surfaces as an error
	bad := &Tokenizer{chatTemplate: `{{ raise_exception("no system role") }}`}
	if _, err := bad.ApplyChatTemplate(nil, ChatOptions{}); err == nil || !strings.Contains(err.Error(), "no system role") {
		t.Errorf("raise_exception: err = %v", err)
	}
	none := &Tokenizer{}
	if _, err := none.ApplyChatTemplate(nil, ChatOptions{}); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("no template: err = %v, want ErrNoChatTemplate", err)
	}
}

func TestPyJSON(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{`{"b": 1, "a": [1, 2.5, -0.0, 1e16, 1e-5, 123456789012345678], "c": null, "d": true}`,
			`{"b": 1, "a": [1, 2.5, -0.0, 1e+16, 1e-05, 123456789012345678], "c": null, "d": true}`},
		{`"é\u2028\u0001\"\\/<>&'"`, `"é` + "\u2028" + `\u0001\"\\/<>&'"`},
		{`[[], {}, [{}]]`, `[[], {}, [{}]]`},
		{`0.1`, `0.1`}, {`100.0`, `100.0`}, {`1e15`, `1000000000000000.0`}, {`0.0001`, `0.0001`},
	} {
		v, err := decodeOrdered([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		w := pyJSON{itemSep: ", ", keySep: ": "}
		if err := w.value(v, 0); err != nil {
			t.Fatal(err)
		}
		if got := w.buf.String(); got != tc.want {
			t.Errorf("pyJSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
