package tokenizer

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzEncodeDecode: Encode never panics, and Decode(Encode(s)) gives s back
// up to NFC: canonically equivalent always, and exactly the normaliser's
// output when s holds no added token (NFC is applied between added tokens, as
// Hugging Face does, with its older Unicode data). Invalid UTF-8 is encoded
// as its U+FFFD replacement. The stream decoder agrees with Decode.
//
//	go test ./tokenizer -run '^$' -fuzz FuzzEncodeDecode -fuzztime 60s
func FuzzEncodeDecode(f *testing.F) {
	tok := qwen(f)
	for _, s := range []string{"", " ", "Hello, world!", "don't 'ſa", "\t\thello\r\n\r\n  ", "café vs cafe\u0301",
		"<|im_start|>user\nhi<|im_end|>", "<think>\u0338", "a\U00011935\U00011930\u1DFA\u0301", "x\u0898\u0316", "🍕👨\u200d👩\u200d👧", "\xff\xfe\xe2\x82", "日本語 ١٢٣",
		strings.Repeat(" ", 300), "x\u0085\u3000y\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		got := tok.Decode(ids, false)
		want := s
		if !utf8.ValidString(s) {
			want = toValidUTF8(s)
		}
		if norm.NFC.String(got) != norm.NFC.String(want) {
			t.Fatalf("Decode(Encode(%q)) = %q, not canonically equivalent", s, got)
		}
		if spans := tok.raw.split(want, 0, nil); len(spans) <= 1 && (len(spans) == 0 || spans[0].id < 0) {
			if got != nfcString(want) {
				t.Fatalf("Decode(Encode(%q)) = %q, want NFC %q", s, got, nfcString(want))
			}
			if norm.NFC.IsNormalString(want) && got != want {
				t.Fatalf("Decode(Encode(%q)) = %q: NFC text must round-trip exactly", s, got)
			}
		}
		d := tok.NewStreamDecoder(false)
		var sb strings.Builder
		for _, id := range ids {
			sb.WriteString(d.Push(id))
		}
		sb.WriteString(d.Flush())
		if sb.String() != got {
			t.Fatalf("stream decode %q != Decode %q", sb.String(), got)
		}
	})
}

// FuzzDecode: any id sequence decodes without panicking to valid UTF-8, and
// streaming gives the same text.
func FuzzDecode(f *testing.F) {
	tok := qwen(f)
	f.Add([]byte{0, 0, 0, 0}, false)
	f.Add([]byte{0x2c, 0x52, 0x02, 0x00, 0x9d, 0x00, 0x00, 0x00}, true)
	f.Fuzz(func(t *testing.T, data []byte, skip bool) {
		ids := make([]int, 0, len(data)/3)
		for len(data) >= 3 {
			v := int(binary.LittleEndian.Uint16(data)) | int(data[2])<<16
			ids = append(ids, v%(tok.Len()+100)-50) // includes negative and unknown ids
			data = data[3:]
		}
		got := tok.Decode(ids, skip)
		if !utf8.ValidString(got) {
			t.Fatalf("Decode(%v) = %q is not valid UTF-8", ids, got)
		}
		d := tok.NewStreamDecoder(skip)
		var sb strings.Builder
		for _, id := range ids {
			chunk := d.Push(id)
			if !utf8.ValidString(chunk) {
				t.Fatalf("chunk %q is not valid UTF-8", chunk)
			}
			sb.WriteString(chunk)
		}
		sb.WriteString(d.Flush())
		if sb.String() != got {
			t.Fatalf("stream decode %q != Decode %q", sb.String(), got)
		}
	})
}
