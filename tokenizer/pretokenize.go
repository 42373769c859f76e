package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes of Qwen's pre-tokenizer regex (Oniguruma, Unicode mode):
// \p{L}, \p{N}, \s (White_Space: U+0009–U+000D, U+0085, Zs, Zl, Zp) and the rest.
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clsNumber
		case unicode.IsSpace(r):
			asciiClass[c] = clsSpace
		}
	}
}

// classOf returns the class of r. Beyond ASCII it looks r up in
// hfClassRuns, the classes that tokenizers' Oniguruma gives (a newer Unicode
// than Go 1.26's 15.0: e.g. CJK Extension I and Unicode 16 letters), so
// results do not depend on the Go toolchain's Unicode tables.
func classOf(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	// the last run starting at or before r
	lo, hi := 0, len(hfClassRuns)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rune(hfClassRuns[m]>>2) <= r {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return clsOther
	}
	return uint8(hfClassRuns[lo-1] & 3)
}

// next decodes the rune at s[i:] (i < len(s)) with its class and width.
func next(s string, i int) (r rune, cls uint8, w int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), asciiClass[c], 1
	}
	r, w = utf8.DecodeRuneInString(s[i:])
	return r, classOf(r), w
}

// contraction reports the length of a case-insensitive s|t|re|ve|m|ll|d at
// s[i:] (after an apostrophe), or 0. Oniguruma's case folding makes U+017F
// (ſ, long s) match 's' as well.
func contraction(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	lower := func(c byte) byte { return c | 0x20 }
	c := lower(s[i])
	switch c {
	case 's', 't', 'm', 'd':
		if s[i] >= 'A' && s[i] <= 'z' && (s[i] <= 'Z' || s[i] >= 'a') {
			return 1
		}
	case 'r', 'v', 'l':
		if !(s[i] >= 'A' && s[i] <= 'z' && (s[i] <= 'Z' || s[i] >= 'a')) || i+1 >= len(s) {
			break
		}
		d := s[i+1]
		if !(d >= 'A' && d <= 'z' && (d <= 'Z' || d >= 'a')) {
			break
		}
		switch {
		case c == 'r' && lower(d) == 'e', c == 'v' && lower(d) == 'e', c == 'l' && lower(d) == 'l':
			return 2
		}
	}
	if s[i] == 0xC5 && i+1 < len(s) && s[i+1] == 0xBF { // U+017F
		return 2
	}
	return 0
}

// preTokenize splits s (valid UTF-8) like tokenizers' Split pre-tokenizer with
// Qwen's pattern and behavior Isolated:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The alternatives are tried in order at every position, with Oniguruma's
// backtracking semantics worked out by hand. Every character belongs to some
// alternative, so the pieces cover s. emit gets each piece's byte range.
func preTokenize(s string, emit func(start, end int)) {
	i := 0
	for i < len(s) {
		r, cls, w := next(s, i)
		// 1. contractions
		if r == '\'' {
			if n := contraction(s, i+1); n > 0 {
				emit(i, i+1+n)
				i += 1 + n
				continue
			}
		}
		// 2. [^\r\n\p{L}\p{N}]?\p{L}+
		if cls == clsLetter {
			j := skipLetters(s, i+w)
			emit(i, j)
			i = j
			continue
		}
		if cls != clsNumber && r != '\r' && r != '\n' && i+w < len(s) {
			if _, c2, w2 := next(s, i+w); c2 == clsLetter {
				j := skipLetters(s, i+w+w2)
				emit(i, j)
				i = j
				continue
			}
		}
		// 3. \p{N}
		if cls == clsNumber {
			emit(i, i+w)
			i += w
			continue
		}
		// 4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
		j := i
		if r == ' ' && i+1 < len(s) {
			if _, c2, _ := next(s, i+1); c2 == clsOther {
				j = i + 1
			}
		}
		if _, c, _ := next(s, j); c == clsOther {
			for j < len(s) {
				_, c, w := next(s, j)
				if c != clsOther {
					break
				}
				j += w
			}
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			emit(i, j)
			i = j
			continue
		}
		// cls == clsSpace from here on: the maximal whitespace run s[i:end]
		end, lastNL, lastStart := i, -1, i
		for end < len(s) {
			r, c, w := next(s, end)
			if c != clsSpace {
				break
			}
			if r == '\r' || r == '\n' {
				lastNL = end + 1
			}
			lastStart = end
			end += w
		}
		switch {
		case lastNL > 0: // 5. \s*[\r\n]+ : up to the last CR/LF of the run
			j = lastNL
		case end == len(s): // 6. \s+(?!\S) at the end of the text
			j = end
		case lastStart > i: // 6. \s+(?!\S): all but the last whitespace character
			j = lastStart
		default: // 7. \s+
			j = end
		}
		emit(i, j)
		i = j
	}
}

func skipLetters(s string, j int) int {
	for j < len(s) {
		_, c, w := next(s, j)
		if c != clsLetter {
			break
		}
		j += w
	}
	return j
}
