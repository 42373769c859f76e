package safetensors

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxSkipDepth bounds the nesting of values skipped in unknown fields.
const maxSkipDepth = 64

// scanner is a small strict JSON reader over the header bytes, enough for the
// safetensors header grammar. It is much faster than encoding/json's token
// API, sees duplicate keys (which encoding/json's Unmarshal silently drops),
// and never recurses or allocates beyond the values it returns.
type scanner struct {
	b []byte
	i int
}

// syntaxError describes malformed JSON at the scanner's position.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return "byte " + strconv.Itoa(e.off) + ": " + e.msg }

func (s *scanner) errorf(msg string) error { return &syntaxError{off: s.i, msg: msg} }

// ws skips JSON whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c (after whitespace) or fails.
func (s *scanner) eat(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errorf("unexpected end of header, expected '" + string(c) + "'")
		}
		return s.errorf("expected '" + string(c) + "', found " + strconv.QuoteRune(rune(s.b[s.i])))
	}
	s.i++
	return nil
}

// next reports whether an object or list continues: it consumes ',' and
// returns true, or sees the closing byte (not consumed) and returns false.
// first is true before the first element.
func (s *scanner) next(first bool, closing byte) (bool, error) {
	c := s.peek()
	if c == closing {
		return false, nil
	}
	if first {
		return true, nil
	}
	if c != ',' {
		if s.i >= len(s.b) {
			return false, s.errorf("unexpected end of header, expected ',' or '" + string(closing) + "'")
		}
		return false, s.errorf("expected ',' or '" + string(closing) + "', found " + strconv.QuoteRune(rune(c)))
	}
	s.i++
	return true, nil
}

// kind describes the value starting at the next byte, for error messages.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == 0:
		return "the end of the header"
	default:
		return "the byte " + strconv.QuoteRune(rune(c))
	}
}

// str reads a JSON string (the header is known to be valid UTF-8).
func (s *scanner) str() (string, error) {
	if err := s.eat('"'); err != nil {
		return "", err
	}
	start := s.i
	// Fast path: no escapes.
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := string(s.b[start:s.i])
			s.i++
			return v, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		s.i++
	}
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(buf), nil
		case c < 0x20:
			return "", s.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || s.i+1 >= len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return "", s.errorf("lone surrogate in \\u escape")
				}
				s.i += 2
				r2, err := s.hex4()
				if err != nil {
					return "", err
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", s.errorf("invalid surrogate pair in \\u escape")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			s.i--
			return "", s.errorf("invalid escape " + strconv.Quote(`\`+string(e)))
		}
	}
	return "", s.errorf("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (s *scanner) hex4() (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, s.errorf("truncated \\u escape")
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, s.errorf("invalid \\u escape")
	}
	s.i += 4
	return rune(v), nil
}

// number reads a JSON number and returns its literal text.
func (s *scanner) number() (string, error) {
	s.ws()
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return "", s.errorf("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return "", s.errorf("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return "", s.errorf("invalid number")
		}
	}
	return string(s.b[start:s.i]), nil
}

// literal consumes the keyword word (true, false, null).
func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.errorf("invalid literal")
	}
	s.i += len(word)
	return nil
}

// skip consumes one JSON value of any kind, nested at most maxSkipDepth deep.
func (s *scanner) skip(depth int) error {
	if depth > maxSkipDepth {
		return s.errorf("value nested too deeply")
	}
	switch c := s.peek(); c {
	case '{':
		s.i++
		for first := true; ; first = false {
			more, err := s.next(first, '}')
			if err != nil {
				return err
			}
			if !more {
				s.i++
				return nil
			}
			if _, err := s.str(); err != nil {
				return err
			}
			if err := s.eat(':'); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		s.i++
		for first := true; ; first = false {
			more, err := s.next(first, ']')
			if err != nil {
				return err
			}
			if !more {
				s.i++
				return nil
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		_, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return s.errorf("unexpected end of header")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, err := s.number()
			return err
		}
		return s.errorf("unexpected " + strconv.QuoteRune(rune(c)))
	}
}
