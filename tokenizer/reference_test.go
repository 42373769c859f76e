package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// casesJSON is testdata/cases.json, made by testdata/gen_reference.js with
// Hugging Face tokenizers (Rust).
type casesJSON struct {
	Encode []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"encode"`
	Decode []struct {
		Bytes       []int  `json:"bytes"`
		IDs         []int  `json:"ids"`
		SkipSpecial bool   `json:"skip_special"`
		Text        string `json:"text"`
	} `json:"decode"`
	Added []struct {
		Text        string `json:"text"`
		IDs         []int  `json:"ids"`
		Decoded     string `json:"decoded"`
		DecodedSkip string `json:"decoded_skip"`
	} `json:"added"`
}

func loadCases(t *testing.T) *casesJSON {
	b, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var c casesJSON
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestReferenceEncode(t *testing.T) {
	tok := qwen(t)
	c := loadCases(t)
	bad := 0
	for _, e := range c.Encode {
		ids := tok.Encode(e.Text)
		if !eqInts(ids, e.IDs) {
			bad++
			t.Errorf("Encode(%q)\n got %v\nwant %v", e.Text, ids, e.IDs)
		}
		if got, want := tok.Decode(ids, false), norm.NFC.String(e.Text); norm.NFC.String(got) != want {
			t.Errorf("Decode(Encode(%q)) = %q, not canonically equivalent", e.Text, got)
		}
	}
	t.Logf("%d/%d reference strings match", len(c.Encode)-bad, len(c.Encode))
}

func TestReferenceDecode(t *testing.T) {
	tok := qwen(t)
	c := loadCases(t)
	for _, d := range c.Decode {
		if got := tok.Decode(d.IDs, d.SkipSpecial); got != d.Text {
			t.Errorf("Decode(%v (bytes %x), %v) = %q, want %q", d.IDs, d.Bytes, d.SkipSpecial, got, d.Text)
		}
		// streaming gives the same text, and no chunk splits a character
		sd := tok.NewStreamDecoder(d.SkipSpecial)
		var all string
		for _, id := range d.IDs {
			chunk := sd.Push(id)
			all += chunk
		}
		all += sd.Flush()
		if all != d.Text {
			t.Errorf("stream decode of %v = %q, want %q", d.IDs, all, d.Text)
		}
	}
}

// TestGSM8K checks the ids of all GSM8K test questions and answers against
// testdata/gsm8k_ids.jsonl.gz (Hugging Face tokenizers), and that decoding
// gives the text back.
func TestGSM8K(t *testing.T) {
	tok := qwen(t)
	path := filepath.Join(dataDir(t), "gsm8k", "test.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("GSM8K data missing: %v", err)
	}
	defer f.Close()
	var texts []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]string
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	gf, err := os.Open("testdata/gsm8k_ids.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer gf.Close()
	zr, err := gzip.NewReader(gf)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	n, bad := 0, 0
	for dec.More() {
		var want struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
			IDs   []int  `json:"ids"`
		}
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if want.Line >= len(texts) {
			t.Fatalf("reference line %d beyond the %d lines of %s", want.Line, len(texts), path)
		}
		text := texts[want.Line][want.Field]
		n++
		ids := tok.Encode(text)
		if !eqInts(ids, want.IDs) {
			bad++
			if bad <= 5 {
				t.Errorf("line %d %s: Encode(%q)\n got %v\nwant %v", want.Line, want.Field, text, ids, want.IDs)
			}
		}
		if got := tok.Decode(ids, false); got != text {
			t.Errorf("line %d %s: decode(encode) = %q, want %q", want.Line, want.Field, got, text)
		}
	}
	if n != 2*len(texts) || n == 0 {
		t.Errorf("%d reference strings for %d GSM8K lines", n, len(texts))
	}
	if bad > 0 {
		t.Errorf("%d/%d GSM8K strings differ", bad, n)
	}
	t.Logf("GSM8K: %d/%d strings (%d questions + answers) identical to Hugging Face tokenizers", n-bad, n, len(texts))
}

// TestReferenceAddedTokenFlags checks lstrip, rstrip, single_word and
// normalized added tokens, and the id assignment of tokenizers (file ids
// ignored: content in the vocabulary takes its id, the rest count on from
// the last added id), against the reference on a copy of the Qwen tokenizer
// with testdata/extra_added_tokens.json appended to added_tokens.
func TestReferenceAddedTokenFlags(t *testing.T) {
	c := loadCases(t)
	if len(c.Added) == 0 {
		t.Fatal("cases.json has no added-token cases")
	}
	src, err := os.ReadFile(goldenFile(t, "models/qwen3-tiny/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := os.ReadFile("testdata/extra_added_tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	const key = `"added_tokens": [`
	i := bytes.Index(src, []byte(key))
	if i < 0 {
		t.Fatal("no added_tokens in tokenizer.json")
	}
	end := i + bytes.IndexByte(src[i:], ']') // added tokens hold no arrays
	extra = bytes.TrimSpace(extra)
	mod := append(append([]byte(nil), src[:end]...), ',')
	mod = append(append(mod, extra[1:len(extra)-1]...), src[end:]...)
	tok, err := parse(mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Added {
		if ids := tok.Encode(e.Text); !eqInts(ids, e.IDs) {
			t.Errorf("Encode(%q) = %v, want %v", e.Text, ids, e.IDs)
		}
		if got := tok.Decode(e.IDs, false); got != e.Decoded {
			t.Errorf("Decode(%v) = %q, want %q", e.IDs, got, e.Decoded)
		}
		if got := tok.Decode(e.IDs, true); got != e.DecodedSkip {
			t.Errorf("Decode(%v, skip) = %q, want %q", e.IDs, got, e.DecodedSkip)
		}
	}
}
