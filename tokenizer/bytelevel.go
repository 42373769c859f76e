package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's bytes_to_unicode: printable Latin-1 bytes map to
// themselves, the others to U+0100 + n in byte order.
var byteToRune [256]rune

// runeToByte inverts byteToRune; -1 for runes outside the alphabet.
var runeToByte [324]int16

// byteStr[b] is string(byteToRune[b]).
var byteStr [256]string

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
	}
	for i := range runeToByte {
		runeToByte[i] = -1
	}
	for b, r := range byteToRune {
		runeToByte[r] = int16(b)
		byteStr[b] = string(r)
	}
}

// appendTokenBytes is the ByteLevel decoder for one token: it appends the
// bytes its byte-level characters stand for, or the token's own UTF-8 bytes
// when some character is outside the byte-level alphabet (as tokenizers does).
func appendTokenBytes(dst []byte, tok string) []byte {
	n := len(dst)
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return append(dst[:n], tok...)
		}
		dst = append(dst, byte(runeToByte[r]))
	}
	return dst
}

// bytesToToken maps raw bytes to their byte-level string.
func bytesToToken(b []byte) string {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, byteToRune[c])
	}
	return string(out)
}
