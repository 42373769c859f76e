package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedMatcher finds added tokens in text the way tokenizers' AddedVocabulary
// does: non-overlapping leftmost-longest matches (Aho-Corasick
// LeftmostLongest), then the single_word, lstrip and rstrip rules.
type addedMatcher struct {
	toks  []addedToken
	nodes []trieNode
	first [256]bool
}

type trieNode struct {
	next map[byte]int32
	tok  int32 // index into toks of the token ending here, or -1
}

// span is a piece of text: an added token (id >= 0) or text to tokenise (id -1).
type span struct {
	start, end int
	id         int
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	m := &addedMatcher{toks: toks, nodes: []trieNode{{tok: -1}}}
	for i, a := range toks {
		n := int32(0)
		for j := 0; j < len(a.Content); j++ {
			c := a.Content[j]
			nx, ok := m.nodes[n].next[c]
			if !ok {
				if m.nodes[n].next == nil {
					m.nodes[n].next = map[byte]int32{}
				}
				nx = int32(len(m.nodes))
				m.nodes[n].next[c] = nx
				m.nodes = append(m.nodes, trieNode{tok: -1})
			}
			n = nx
		}
		m.nodes[n].tok = int32(i)
		m.first[a.Content[0]] = true
	}
	return m
}

// longest returns the index of the longest token that s[pos:] starts with and
// its end, or -1.
func (m *addedMatcher) longest(s string, pos int) (tok int, end int) {
	tok, end = -1, pos
	n := int32(0)
	for i := pos; i < len(s); i++ {
		nx, ok := m.nodes[n].next[s[i]]
		if !ok {
			break
		}
		n = nx
		if t := m.nodes[n].tok; t >= 0 {
			tok, end = int(t), i+1
		}
	}
	return tok, end
}

// split appends to dst the pieces of s: added tokens and the text between them.
func (m *addedMatcher) split(s string, base int, dst []span) []span {
	if len(m.toks) == 0 {
		if len(s) > 0 {
			dst = append(dst, span{base, base + len(s), -1})
		}
		return dst
	}
	offset := 0 // start of the text not yet emitted
	for pos := 0; pos < len(s); {
		if !m.first[s[pos]] {
			pos++
			continue
		}
		ti, stop := m.longest(s, pos)
		if ti < 0 {
			pos++
			continue
		}
		start, next := pos, stop
		pos = stop // the automaton resumes after the raw match
		a := &m.toks[ti]
		if a.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if a.LStrip {
			ns := start
			for ns > 0 {
				r, w := utf8.DecodeLastRuneInString(s[:ns])
				if !unicode.IsSpace(r) {
					break
				}
				ns -= w
			}
			start = max(ns, offset)
		}
		if a.RStrip {
			for next < len(s) {
				r, w := utf8.DecodeRuneInString(s[next:])
				if !unicode.IsSpace(r) {
					break
				}
				next += w
			}
		}
		if start < offset {
			continue
		}
		if offset < start {
			dst = append(dst, span{base + offset, base + start, -1})
		}
		dst = append(dst, span{base + start, base + next, a.ID})
		offset = next
	}
	if offset < len(s) {
		dst = append(dst, span{base + offset, base + len(s), -1})
	}
	return dst
}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Other_Alphabetic, r)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return len(s) > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return len(s) > 0 && isWordChar(r)
}
