package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// repoRoot walks up from the package directory to the directory with go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// goldenDir returns $LATENTMAS_GOLDEN or ../shared/golden next to the repo
// root, and whether it was set explicitly.
func goldenDir(t testing.TB) (string, bool) {
	if d := os.Getenv("LATENTMAS_GOLDEN"); d != "" {
		return d, true
	}
	return filepath.Join(repoRoot(t), "..", "shared", "golden"), false
}

// dataDir is the sibling ../shared/data of the golden directory.
func dataDir(t testing.TB) string {
	g, _ := goldenDir(t)
	return filepath.Join(filepath.Dir(filepath.Clean(g)), "data")
}

// goldenFile returns the path of a file under the golden directory; a missing
// file fails the test, unless $LATENTMAS_GOLDEN was set explicitly to a
// directory without it, which skips.
func goldenFile(t testing.TB, rel string) string {
	t.Helper()
	g, explicit := goldenDir(t)
	p := filepath.Join(g, rel)
	if _, err := os.Stat(p); err != nil {
		if explicit {
			t.Skipf("$LATENTMAS_GOLDEN=%s has no %s", g, rel)
		}
		t.Fatalf("golden data missing: %v (set $LATENTMAS_GOLDEN to the golden directory)", err)
	}
	return p
}

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
)

// qwen loads the real Qwen3 tokenizer from the golden tree (once).
func qwen(t testing.TB) *Tokenizer {
	t.Helper()
	dir := filepath.Dir(goldenFile(t, "models/qwen3-tiny/tokenizer.json"))
	qwenOnce.Do(func() { qwenTok, qwenErr = Load(dir) })
	if qwenErr != nil {
		t.Fatal(qwenErr)
	}
	return qwenTok
}

type goldenFileJSON struct {
	Strings []struct {
		Name    string `json:"name"`
		Text    string `json:"text"`
		IDs     []int  `json:"ids"`
		Decoded string `json:"decoded"`
	} `json:"strings"`
	Chats []struct {
		Name                string          `json:"name"`
		Messages            json.RawMessage `json:"messages"`
		AddGenerationPrompt bool            `json:"add_generation_prompt"`
		EnableThinking      *bool           `json:"enable_thinking"`
		Text                string          `json:"text"`
		IDs                 []int           `json:"ids"`
	} `json:"chats"`
	Texts map[string]json.RawMessage `json:"texts"`
}

func loadGolden(t *testing.T) *goldenFileJSON {
	b, err := os.ReadFile(goldenFile(t, "tokenizer/tokenizer_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFileJSON
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Strings) == 0 || len(g.Chats) == 0 {
		t.Fatal("tokenizer_golden.json has no strings or chats")
	}
	return &g
}

func eqInts(a, b []int) bool {
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

func TestGoldenStrings(t *testing.T) {
	tok := qwen(t)
	g := loadGolden(t)
	for _, s := range g.Strings {
		t.Run(s.Name, func(t *testing.T) {
			ids := tok.Encode(s.Text)
			if !eqInts(ids, s.IDs) {
				t.Errorf("Encode(%q)\n got %v\nwant %v", s.Text, ids, s.IDs)
			}
			if got := tok.Decode(s.IDs, false); got != s.Decoded {
				t.Errorf("Decode = %q, want %q", got, s.Decoded)
			}
		})
	}
}

func TestGoldenChats(t *testing.T) {
	tok := qwen(t)
	g := loadGolden(t)
	for _, c := range g.Chats {
		t.Run(c.Name, func(t *testing.T) {
			opt := ChatOptions{AddGenerationPrompt: c.AddGenerationPrompt, EnableThinking: c.EnableThinking}
			text, err := tok.ApplyChatTemplateJSON(c.Messages, opt)
			if err != nil {
				t.Fatal(err)
			}
			if text != c.Text {
				t.Errorf("render\n got %q\nwant %q", text, c.Text)
			}
			var msgs []struct{ Role, Content string }
			if err := json.Unmarshal(c.Messages, &msgs); err != nil {
				t.Fatal(err)
			}
			ms := make([]Message, len(msgs))
			for i, m := range msgs {
				ms[i] = Message{Role: m.Role, Content: m.Content}
			}
			text2, err := tok.ApplyChatTemplate(ms, opt)
			if err != nil {
				t.Fatal(err)
			}
			if text2 != c.Text {
				t.Errorf("ApplyChatTemplate\n got %q\nwant %q", text2, c.Text)
			}
			if ids := tok.Encode(text); !eqInts(ids, c.IDs) {
				t.Errorf("ids\n got %v\nwant %v", ids, c.IDs)
			}
		})
	}
}

func TestGoldenTexts(t *testing.T) {
	tok := qwen(t)
	g := loadGolden(t)
	if len(g.Texts) == 0 {
		t.Fatal("tokenizer_golden.json has no texts")
	}
	for name, raw := range g.Texts {
		var x struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatalf("texts.%s: %v", name, err)
		}
		if ids := tok.Encode(x.Text); !eqInts(ids, x.IDs) {
			t.Errorf("texts.%s: Encode(%q) = %v, want %v", name, x.Text, ids, x.IDs)
		}
	}
}
