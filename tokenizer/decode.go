package tokenizer

import "unicode/utf8"

// utf8Seq classifies the bytes at b[i:]: it returns n > 0 for a complete valid
// character of n bytes; n < 0 for an invalid sequence whose maximal invalid
// subpart is -n bytes; and 0 when b[i:] is a valid but incomplete prefix of a
// character (only possible at the end of b).
func utf8Seq(b []byte, i int) int {
	c := b[i]
	if c < 0x80 {
		return 1
	}
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return -1
	}
	for k := 1; k <= need; k++ {
		if i+k >= len(b) {
			return 0
		}
		d := b[i+k]
		if k == 1 {
			if d < lo || d > hi {
				return -1
			}
		} else if d < 0x80 || d > 0xBF {
			return -k
		}
	}
	return need + 1
}

// appendLossy appends b to dst as valid UTF-8 the way Rust's
// String::from_utf8_lossy does: one U+FFFD per maximal invalid subsequence.
// With final=false a valid but incomplete character at the end is left
// unconsumed; the number of bytes consumed is returned.
func appendLossy(dst []byte, b []byte, final bool) ([]byte, int) {
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			dst = append(dst, b[i])
			i++
			continue
		}
		n := utf8Seq(b, i)
		switch {
		case n > 0:
			dst = append(dst, b[i:i+n]...)
			i += n
		case n < 0:
			dst = append(dst, "\uFFFD"...)
			i += -n
		default: // incomplete at the end
			if !final {
				return dst, i
			}
			dst = append(dst, "\uFFFD"...)
			i = len(b)
		}
	}
	return dst, i
}

// toValidUTF8 replaces invalid UTF-8 in s by U+FFFD, one per maximal invalid
// subsequence.
func toValidUTF8(s string) string {
	out, _ := appendLossy(make([]byte, 0, len(s)+8), []byte(s), true)
	return string(out)
}

// Decode turns ids back into text like Hugging Face's
// tokenizer.decode(ids, skip_special_tokens=skipSpecial) for Qwen (no
// clean-up of tokenisation spaces): tokens are mapped from the byte-level
// alphabet back to bytes, and invalid UTF-8 becomes one U+FFFD per maximal
// invalid subsequence. Ids outside the vocabulary are dropped, as tokenizers
// does. With skipSpecial, special added tokens (<|im_end|>, <|endoftext|>,
// ...) are left out; non-special added tokens such as <think> stay.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	var buf []byte
	for _, id := range ids {
		buf = t.appendToken(buf, id, skipSpecial)
	}
	if utf8.Valid(buf) {
		return string(buf)
	}
	out, _ := appendLossy(make([]byte, 0, len(buf)+8), buf, true)
	return string(out)
}

func (t *Tokenizer) appendToken(buf []byte, id int, skipSpecial bool) []byte {
	if id < 0 || id >= len(t.tokenBytes) || t.tokenBytes[id] == nil {
		return buf
	}
	if skipSpecial && t.special[id] {
		return buf
	}
	return append(buf, t.tokenBytes[id]...)
}

// StreamDecoder decodes a stream of ids incrementally. The concatenation of
// everything Push and Flush return equals Decode of all the ids pushed, and a
// chunk never ends inside a UTF-8 character: bytes that may still become a
// character are held back until the next id decides.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte
	out         []byte
}

// NewStreamDecoder returns a StreamDecoder; skipSpecial is as for Decode.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Push adds one id and returns the text that is now final (possibly "").
func (d *StreamDecoder) Push(id int) string {
	d.pending = d.t.appendToken(d.pending, id, d.skipSpecial)
	return d.emit(false)
}

// Flush returns whatever is held back (an incomplete character becomes
// U+FFFD) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	return d.emit(true)
}

func (d *StreamDecoder) emit(final bool) string {
	if len(d.pending) == 0 {
		return ""
	}
	var n int
	d.out, n = appendLossy(d.out[:0], d.pending, final)
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return string(d.out)
}

// Len is len(tokenizer) in transformers: the number of distinct tokens in the
// vocabulary and the added tokens (151669 for Qwen3, fewer than the model's
// 151936 embedding rows).
func (t *Tokenizer) Len() int {
	n := len(t.vocab)
	for _, a := range t.added {
		if _, ok := t.vocab[a.Content]; !ok {
			n++
		}
	}
	return n
}

// TokenID returns the id of a token string (an added token's content, or a
// vocabulary entry in its byte-level form, e.g. "Ġthe").
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.addedID[tok]; ok {
		return id, true
	}
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the token string of id (byte-level form for vocabulary
// entries, as convert_ids_to_tokens).
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.idToToken) || t.idToToken[id] == "" {
		return "", false
	}
	return t.idToToken[id], true
}

// IsSpecial reports whether id is a special added token (one that Decode
// with skipSpecial leaves out).
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

// IsAdded reports whether id is an added token (special or not, e.g. <think>).
func (t *Tokenizer) IsAdded(id int) bool {
	return id >= 0 && id < len(t.isAdded) && t.isAdded[id]
}

// Fingerprint is a SHA-256 over the vocabulary, the merges, the added tokens
// (with their flags) and the normaliser/pre-tokenizer (computed on first use), so two checkpoints'
// tokenizers can be compared: equal fingerprints tokenise identically.
func (t *Tokenizer) Fingerprint() [32]byte {
	t.fpOnce.Do(func() { t.fingerprint = t.computeFingerprint() })
	return t.fingerprint
}

// EOS returns the eos_token of tokenizer_config.json and its id.
func (t *Tokenizer) EOS() (tok string, id int, ok bool) { return t.eos, t.eosID, t.eosID >= 0 }

// Pad returns the pad_token of tokenizer_config.json and its id.
func (t *Tokenizer) Pad() (tok string, id int, ok bool) { return t.pad, t.padID, t.padID >= 0 }

// BOS returns the bos_token of tokenizer_config.json and its id (Qwen has none).
func (t *Tokenizer) BOS() (tok string, id int, ok bool) { return t.bos, t.bosID, t.bosID >= 0 }

// ChatTemplate returns the Jinja chat template ("" when there is none).
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }
