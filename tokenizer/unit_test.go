package tokenizer

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The expected pieces come from tokenizers' own pre-tokenizer
// (PreTokenizer.preTokenizeString of the Qwen3 tokenizer, npm tokenizers 0.23.2).
func TestPreTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Hello, world!", []string{"Hello", ",", " world", "!"}},
		{"don't STOP'S 'ſa", []string{"don", "'t", " STOP", "'S", " '", "ſa"}},
		{"'ſa", []string{"'ſ", "a"}},
		{"\t\thello", []string{"\t", "\thello"}},
		{"a  \n  b", []string{"a", "  \n", " ", " b"}},
		{"x   ", []string{"x", "   "}},
		{"x   y", []string{"x", "  ", " y"}},
		{"a\r\n\r\n b", []string{"a", "\r\n\r\n", " b"}},
		{"(hello ((x", []string{"(hello", " ((", "x"}},
		{"1234 ٣٤", []string{"1", "2", "3", "4", " ", "٣", "٤"}},
		{" !!!\n\n?", []string{" !!!\n\n", "?"}},
		{"x\u0085\u0085y", []string{"x", "\u0085", "\u0085y"}},
		{"x\u3000\u3000y", []string{"x", "\u3000", "\u3000y"}},
		{"x\u200b\u200by", []string{"x", "\u200b\u200b", "y"}},
		{"foo\n", []string{"foo", "\n"}},
		{"  ", []string{"  "}},
		{"'", []string{"'"}},
		{"it's", []string{"it", "'s"}},
		{"ab'", []string{"ab", "'"}},
		{"a\u00a0b", []string{"a", "\u00a0b"}},
		{"$100.00", []string{"$", "1", "0", "0", ".", "0", "0"}},
		{"e\u0301", []string{"e", "\u0301"}},
		{"", nil},
	} {
		var got []string
		preTokenize(tc.in, func(a, b int) { got = append(got, tc.in[a:b]) })
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("preTokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLossyUTF8(t *testing.T) {
	for _, tc := range []struct{ hex, want string }{
		{"41", "A"},
		{"e282ac", "€"},
		{"e282", "\uFFFD"},               // truncated at the end: one replacement
		{"e28241", "\uFFFDA"},            // maximal subpart e2 82
		{"80bf", "\uFFFD\uFFFD"},         // lone continuation bytes: one each
		{"c0af", "\uFFFD\uFFFD"},         // overlong lead byte
		{"eda080", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ed is followed by a byte outside 80..9f
		{"f4908080", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"f09f8d", "\uFFFD"},
		{"f09f8d95", "🍕"},
		{"f09f8df09f8d95", "\uFFFD🍕"},
		{"e0a0", "\uFFFD"},
		{"e080", "\uFFFD\uFFFD"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		got, _ := appendLossy(nil, b, true)
		if string(got) != tc.want {
			t.Errorf("lossy(%s) = %q, want %q", tc.hex, got, tc.want)
		}
		if s := toValidUTF8(string(b)); s != tc.want {
			t.Errorf("toValidUTF8(%s) = %q, want %q", tc.hex, s, tc.want)
		}
	}
}

// TestStreamDecoder checks that chunks are whole characters and add up to
// Decode, on text whose characters span several tokens.
func TestStreamDecoder(t *testing.T) {
	tok := qwen(t)
	for _, text := range []string{
		"I love pizza 🍕🍕 and 👨\u200d👩\u200d👧\u200d👦 — 你好，世界！",
		"<|im_start|>user\nħéllo<|im_end|>\n<think>\nx\n</think>\n\n日本語",
		"𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ⅯⅯⅩⅩⅣ 🇯🇵🇺🇸",
	} {
		ids := tok.Encode(text)
		for _, skip := range []bool{false, true} {
			d := tok.NewStreamDecoder(skip)
			var sb strings.Builder
			for _, id := range ids {
				chunk := d.Push(id)
				if strings.ContainsRune(chunk, utf8.RuneError) {
					t.Errorf("chunk %q of %q contains U+FFFD", chunk, text)
				}
				sb.WriteString(chunk)
			}
			sb.WriteString(d.Flush())
			if want := tok.Decode(ids, skip); sb.String() != want {
				t.Errorf("stream(%q, skip=%v) = %q, want %q", text, skip, sb.String(), want)
			}
		}
	}
	// a held-back incomplete character becomes U+FFFD on Flush
	d := tok.NewStreamDecoder(false)
	if got := d.Push(int(tok.byteID[0xF0])) + d.Push(int(tok.byteID[0x9F])); got != "" {
		t.Errorf("incomplete character emitted early: %q", got)
	}
	if got := d.Flush(); got != "\uFFFD" {
		t.Errorf("Flush = %q, want U+FFFD", got)
	}
	if got := d.Flush(); got != "" {
		t.Errorf("second Flush = %q, want empty", got)
	}
}

func TestVocabularyAccessors(t *testing.T) {
	tok := qwen(t)
	if n := tok.Len(); n != 151669 {
		t.Errorf("Len = %d, want 151669", n)
	}
	for _, tc := range []struct {
		tok     string
		id      int
		special bool
	}{
		{"<|endoftext|>", 151643, true}, {"<|im_start|>", 151644, true}, {"<|im_end|>", 151645, true},
		{"<think>", 151667, false}, {"</think>", 151668, false}, {"<tool_call>", 151657, false},
		{"Ġthe", 279, false}, {"!", 0, false},
	} {
		id, ok := tok.TokenID(tc.tok)
		if !ok || id != tc.id {
			t.Errorf("TokenID(%q) = %d, %v; want %d", tc.tok, id, ok, tc.id)
		}
		if s, ok := tok.Token(tc.id); !ok || s != tc.tok {
			t.Errorf("Token(%d) = %q, %v; want %q", tc.id, s, ok, tc.tok)
		}
		if tok.IsSpecial(tc.id) != tc.special {
			t.Errorf("IsSpecial(%d) = %v", tc.id, !tc.special)
		}
	}
	if !tok.IsAdded(151667) || tok.IsAdded(279) {
		t.Error("IsAdded wrong")
	}
	for _, id := range []int{-1, 151669, 151936, 1 << 40} {
		if _, ok := tok.Token(id); ok || tok.IsSpecial(id) || tok.IsAdded(id) {
			t.Errorf("id %d should be unknown", id)
		}
	}
	if _, ok := tok.TokenID("no such token"); ok {
		t.Error("TokenID of an unknown token succeeded")
	}
	if s, id, ok := tok.EOS(); !ok || s != "<|im_end|>" || id != 151645 {
		t.Errorf("EOS = %q %d %v", s, id, ok)
	}
	if s, id, ok := tok.Pad(); !ok || s != "<|endoftext|>" || id != 151643 {
		t.Errorf("Pad = %q %d %v", s, id, ok)
	}
	if _, _, ok := tok.BOS(); ok {
		t.Error("Qwen has no BOS")
	}
	// Decode drops unknown ids, as tokenizers does
	if got := tok.Decode([]int{-5, 9707, 151700, 1 << 40}, false); got != "Hello" {
		t.Errorf("Decode with unknown ids = %q", got)
	}
	if got := tok.Decode([]int{151644, 872, 151645, 151667}, true); got != "user<think>" {
		t.Errorf("Decode skip special = %q", got)
	}
}

func TestFingerprint(t *testing.T) {
	tok := qwen(t)
	other, err := Load(filepath.Join(dataDir(t), "tokenizer", "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Fingerprint() != other.Fingerprint() {
		t.Error("the same tokenizer files give different fingerprints")
	}
	src, err := os.ReadFile(goldenFile(t, "models/qwen3-tiny/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	mod := bytes.Replace(src, []byte(`"content": "<think>"`), []byte(`"content": "<thonk>"`), 1)
	changed, err := parse(mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Fingerprint() == tok.Fingerprint() {
		t.Error("changing an added token does not change the fingerprint")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("missing tokenizer.json: err = %v", err)
	}
	src, err := os.ReadFile(goldenFile(t, "models/qwen3-tiny/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tokenizer.json", src)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("missing tokenizer_config.json: err = %v", err)
	}
	write("tokenizer_config.json", []byte(`{"chat_template": 5}`))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("bad tokenizer_config.json: err = %v", err)
	}
	write("tokenizer_config.json", []byte(`{"eos_token": "<|im_end|>", "chat_template": "{{ messages[0].content }}"}`))
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, ChatOptions{}); err != nil || got != "hi" {
		t.Errorf("custom template = %q, %v", got, err)
	}
	write("chat_template.jinja", []byte("J{{ messages|length }}"))
	if tok, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, ChatOptions{}); err != nil || got != "J1" {
		t.Errorf("chat_template.jinja = %q, %v", got, err)
	}

	for _, tc := range []struct {
		name    string
		mutate  func([]byte) []byte
		mention string
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "tokenizer.json"},
		{"trailing garbage", func(b []byte) []byte { return append(append([]byte(nil), b...), "x"...) }, "trailing"},
		{"other pre-tokenizer", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"type": "Split"`), []byte(`"type": "Whitespace"`), 1)
		}, "pre_tokenizer"},
		{"other normalizer", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"type": "NFC"`), []byte(`"type": "NFKC"`), 1)
		}, "normalizer"},
		{"merge outside vocab", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"merges": [`), []byte(`"merges": [["zzqq", "xxyy"], `), 1)
		}, "not in vocabulary"},
	} {
		if _, err := parse(tc.mutate(src), nil); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.mention)
		}
	}
}

// TestConcurrentUse encodes, decodes and renders from several goroutines
// (the pre-token cache and the template are shared).
func TestConcurrentUse(t *testing.T) {
	tok := qwen(t)
	texts := []string{"Hello, world! 你好", "<think>\nstep\n</think>\n\nThe answer is 4.", "  spaced   out  ", "émoji 🍕"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	wantChat, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, ChatOptions{AddGenerationPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				i := (g + k) % len(texts)
				if ids := tok.Encode(texts[i]); !eqInts(ids, want[i]) {
					errs <- "Encode differs under concurrency"
					return
				}
				if tok.Decode(want[i], false) != texts[i] {
					errs <- "Decode differs under concurrency"
					return
				}
				if k%10 == 0 {
					if s, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, ChatOptions{AddGenerationPrompt: true}); err != nil || s != wantChat {
						errs <- "ApplyChatTemplate differs under concurrency"
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestClassTable compares the generated Oniguruma class table with Go's
// unicode package: they must agree on everything Go's Unicode version
// knows, except a few documented property changes.
func TestClassTable(t *testing.T) {
	goClass := func(r rune) uint8 {
		switch {
		case unicode.IsLetter(r):
			return clsLetter
		case unicode.IsNumber(r):
			return clsNumber
		case unicode.IsSpace(r):
			return clsSpace
		}
		return clsOther
	}
	newer, differ := 0, 0
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		hf, g := classOf(r), goClass(r)
		if hf == g {
			continue
		}
		if g == clsOther && unicode.Is(unicode.Categories["Cn"], r) {
			newer++ // unassigned in Go's Unicode tables
			continue
		}
		differ++
		t.Logf("U+%04X: tokenizers class %d, Go %d", r, hf, g)
	}
	t.Logf("%d code points classified only by the newer Unicode of tokenizers, %d differ", newer, differ)
	if differ > 0 {
		t.Errorf("%d code points classified differently from Go's unicode tables", differ)
	}
	for _, tc := range []struct {
		r    rune
		want uint8
	}{{'é', clsLetter}, {'中', clsLetter}, {0x2EBF0, clsLetter}, {'٣', clsNumber}, {'½', clsNumber}, {0x3000, clsSpace},
		{0x85, clsSpace}, {0xA0, clsSpace}, {0x200B, clsOther}, {0x301, clsOther}, {'🍕', clsOther}, {0x10FFFF, clsOther}} {
		if got := classOf(tc.r); got != tc.want {
			t.Errorf("classOf(U+%04X) = %d, want %d", tc.r, got, tc.want)
		}
	}
}
