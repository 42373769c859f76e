package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a minimal JSON reader for the two big parts of tokenizer.json
// (model.vocab and model.merges), several times faster than encoding/json on
// them; everything else goes through encoding/json.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.i, fmt.Sprintf(format, args...))
}

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

// peek returns the next non-space byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errf("unexpected end of JSON, want %q", c)
		}
		return s.errf("found %q, want %q", s.b[s.i], c)
	}
	s.i++
	return nil
}

// str reads a JSON string.
func (s *scanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return toValidUTF8(string(raw)), nil
			}
			return string(raw), nil
		case c == '\\':
			return s.strSlow(start)
		case c < 0x20:
			return "", s.errf("control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return "", s.errf("unterminated string")
}

// strSlow decodes a string with escapes, from its first byte at start.
func (s *scanner) strSlow(start int) (string, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(out) {
				return toValidUTF8(string(out)), nil
			}
			return string(out), nil
		case c < 0x20:
			return "", s.errf("control character in string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", s.errf("unterminated string")
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.errf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					var ok2 bool
					if r2, ok2 = s.hex4(); !ok2 {
						return "", s.errf("bad \\u escape")
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						out = utf8.AppendRune(out, d)
						continue
					}
					s.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", s.errf("bad escape \\%c", e)
		}
	}
	return "", s.errf("unterminated string")
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// integer reads a non-negative JSON integer.
func (s *scanner) integer() (int, error) {
	s.ws()
	start := s.i
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		if n > 1<<40 {
			return 0, s.errf("integer too large")
		}
		s.i++
	}
	if s.i == start {
		return 0, s.errf("want a non-negative integer")
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, s.errf("want an integer")
	}
	return n, nil
}

// skip skips one JSON value and returns its raw bytes. It checks nesting
// and strings, not literals (encoding/json checks the parts that are used).
func (s *scanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil, s.errf("unexpected end of JSON")
	}
	switch s.b[s.i] {
	case '"':
		_, err := s.str()
		return s.b[start:s.i], err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch c := s.b[s.i]; c {
			case '"':
				if _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return s.b[start:s.i], nil
			}
		}
		return nil, s.errf("unexpected end of JSON")
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			break
		}
		s.i++
	}
	if s.i == start {
		return nil, s.errf("missing value")
	}
	return s.b[start:s.i], nil
}

// object calls fn for each key of an object; fn must consume the value.
func (s *scanner) object(fn func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("want ',' or '}'")
		}
	}
}

// array calls fn for each element of an array; fn must consume the element.
func (s *scanner) array(fn func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("want ',' or ']'")
		}
	}
}

// end checks that only white space is left.
func (s *scanner) end() error {
	if s.peek() != 0 || s.i < len(s.b) {
		return s.errf("trailing data after JSON value")
	}
	return nil
}

// parseTokenizerJSON fills tj from tokenizer.json: vocab and merges with the
// scanner, the rest with encoding/json.
func parseTokenizerJSON(b []byte, tj *tokenizerJSON) error {
	s := &scanner{b: b}
	rest := []byte{'{'}
	var merges [][2]string
	var vocab map[string]int
	err := s.object(func(key string) error {
		if key != "model" {
			raw, err := s.skip()
			if err != nil {
				return err
			}
			if len(rest) > 1 {
				rest = append(rest, ',')
			}
			rest = strconv.AppendQuote(rest, key)
			rest = append(append(rest, ':'), raw...)
			return nil
		}
		modelRest := []byte{'{'}
		err := s.object(func(mkey string) error {
			switch mkey {
			case "vocab":
				vocab = make(map[string]int, 1<<17)
				return s.object(func(tok string) error {
					id, err := s.integer()
					if err != nil {
						return fmt.Errorf("model.vocab[%q]: %w", tok, err)
					}
					vocab[tok] = id
					return nil
				})
			case "merges":
				merges = make([][2]string, 0, 1<<17)
				return s.array(func() error {
					if s.peek() == '[' {
						var p [2]string
						n := 0
						err := s.array(func() error {
							if n == 2 {
								return s.errf("model.merges[%d]: more than two strings", len(merges))
							}
							var err error
							p[n], err = s.str()
							n++
							return err
						})
						if err == nil && n != 2 {
							err = s.errf("model.merges[%d]: want two strings", len(merges))
						}
						merges = append(merges, p)
						return err
					}
					m, err := s.str()
					if err != nil {
						return err
					}
					for j := 0; j < len(m); j++ {
						if m[j] == ' ' {
							merges = append(merges, [2]string{m[:j], m[j+1:]})
							return nil
						}
					}
					return fmt.Errorf("model.merges[%d] = %q: no space", len(merges), m)
				})
			}
			raw, err := s.skip()
			if err != nil {
				return err
			}
			if len(modelRest) > 1 {
				modelRest = append(modelRest, ',')
			}
			modelRest = strconv.AppendQuote(modelRest, mkey)
			modelRest = append(append(modelRest, ':'), raw...)
			return nil
		})
		if err != nil {
			return err
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = append(append(rest, `"model":`...), modelRest...)
		rest = append(rest, '}')
		return nil
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return err
	}
	rest = append(rest, '}')
	if err := json.Unmarshal(rest, tj); err != nil {
		return err
	}
	if vocab == nil {
		return errors.New("no model.vocab")
	}
	tj.Model.Vocab = vocab
	tj.Model.merges = merges
	return nil
}
