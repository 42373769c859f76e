package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func BenchmarkLoad(b *testing.B) {
	dir := filepath.Dir(goldenFile(b, "models/qwen3-tiny/tokenizer.json"))
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeGSM8K encodes the whole GSM8K test file (JSONL as text).
// The first iteration fills the pre-token cache, as in real use.
func BenchmarkEncodeGSM8K(b *testing.B) {
	tok := qwen(b)
	data, err := os.ReadFile(filepath.Join(dataDir(b), "gsm8k", "test.jsonl"))
	if err != nil {
		b.Fatalf("GSM8K data missing: %v", err)
	}
	text := string(data)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

// BenchmarkEncodeGSM8KCold is the same without the pre-token cache: every
// piece goes through BPE.
func BenchmarkEncodeGSM8KCold(b *testing.B) {
	tok := qwen(b)
	data, err := os.ReadFile(filepath.Join(dataDir(b), "gsm8k", "test.jsonl"))
	if err != nil {
		b.Fatalf("GSM8K data missing: %v", err)
	}
	text := string(data)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.cacheMu.Lock()
		tok.cache = nil
		tok.cacheMu.Unlock()
		tok.Encode(text)
	}
}

func BenchmarkEncodeSpaces200k(b *testing.B) {
	tok := qwen(b)
	text := strings.Repeat(" ", 200000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

func BenchmarkDecodeGSM8K(b *testing.B) {
	tok := qwen(b)
	data, err := os.ReadFile(filepath.Join(dataDir(b), "gsm8k", "test.jsonl"))
	if err != nil {
		b.Fatalf("GSM8K data missing: %v", err)
	}
	ids := tok.Encode(string(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		tok.Decode(ids, false)
	}
}

// TestPathologicalInputsAreFast guards the n log n BPE: inputs that would be
// quadratic in a naive merge loop must finish quickly.
func TestPathologicalInputsAreFast(t *testing.T) {
	tok := qwen(t)
	for _, s := range []string{
		strings.Repeat(" ", 200000),
		strings.Repeat("a", 100000),
		strings.Repeat("\n", 100000),
		strings.Repeat("!", 100000),
		strings.Repeat("中", 50000),
	} {
		start := time.Now()
		ids := tok.Encode(s)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Encode of %d×%q took %v", len(s), s[:1], d)
		}
		if got := tok.Decode(ids, false); got != s {
			t.Errorf("round trip of %d×%q failed", len(s), s[:1])
		}
	}
}
