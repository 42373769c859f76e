package tokenizer

import (
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// symbol is one node of the doubly linked list a word is merged in.
type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
	dead       bool
}

// mergeItem is a candidate merge of the symbol at pos with its successor.
type mergeItem struct {
	key uint64 // rank<<32 | pos: lower rank first, then leftmost
	id  int32  // the merged token
}

type bpeScratch struct {
	syms []symbol
	heap []mergeItem
}

var scratchPool = sync.Pool{New: func() any { return new(bpeScratch) }}

// cache limits: pieces up to maxCachedLen bytes are cached, and the cache is
// dropped when it reaches maxCacheEntries.
const (
	maxCachedLen    = 64
	maxCacheEntries = 1 << 17
)

func (t *Tokenizer) lookupMerge(a, b int32) (rank uint32, id int32, ok bool) {
	v, ok := t.merges[uint64(uint32(a))<<32|uint64(uint32(b))]
	return uint32(v >> 32), int32(uint32(v)), ok
}

// bpe appends the ids of one pre-token (raw UTF-8 bytes, mapped to the
// byte-level alphabet on the fly) to dst.
func (t *Tokenizer) bpe(piece string, dst []int) []int {
	if len(piece) == 1 {
		return append(dst, int(t.byteID[piece[0]]))
	}
	cacheable := len(piece) <= maxCachedLen
	if cacheable {
		t.cacheMu.RLock()
		v, ok := t.cache[piece]
		t.cacheMu.RUnlock()
		if ok {
			for _, id := range v {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	sc := scratchPool.Get().(*bpeScratch)
	ids := t.merge(piece, sc)
	n0 := len(dst)
	for _, id := range ids {
		dst = append(dst, int(id))
	}
	scratchPool.Put(sc)
	if cacheable {
		out := make([]int32, len(dst)-n0)
		for i, id := range dst[n0:] {
			out[i] = int32(id)
		}
		key := strings.Clone(piece)
		t.cacheMu.Lock()
		if t.cache == nil || len(t.cache) >= maxCacheEntries {
			t.cache = make(map[string][]int32, 1024)
		}
		t.cache[key] = out
		t.cacheMu.Unlock()
	}
	return dst
}

// merge runs BPE over the bytes of piece: repeatedly merge the adjacent pair
// with the lowest merge rank, leftmost first, as tokenizers' Word::merge_all
// does with its priority queue. The returned slice aliases sc.
func (t *Tokenizer) merge(piece string, sc *bpeScratch) []int32 {
	n := len(piece)
	syms := sc.syms[:0]
	for i := 0; i < n; i++ {
		syms = append(syms, symbol{id: t.byteID[piece[i]], prev: int32(i - 1), next: int32(i + 1)})
	}
	syms[n-1].next = -1
	h := sc.heap[:0]
	for i := 0; i+1 < n; i++ {
		if rank, id, ok := t.lookupMerge(syms[i].id, syms[i+1].id); ok {
			h = append(h, mergeItem{uint64(rank)<<32 | uint64(i), id})
		}
	}
	heapInit(h)
	for len(h) > 0 {
		top := h[0]
		h = heapPop(h)
		pos := int32(uint32(top.key))
		s := &syms[pos]
		if s.dead || s.next < 0 {
			continue
		}
		nx := s.next
		if _, id, ok := t.lookupMerge(s.id, syms[nx].id); !ok || id != top.id {
			continue // stale: one side changed since this pair was queued
		}
		s.id = top.id
		syms[nx].dead = true
		s.next = syms[nx].next
		if s.next >= 0 {
			syms[s.next].prev = pos
		}
		if p := s.prev; p >= 0 {
			if rank, id, ok := t.lookupMerge(syms[p].id, s.id); ok {
				h = heapPush(h, mergeItem{uint64(rank)<<32 | uint64(p), id})
			}
		}
		if s.next >= 0 {
			if rank, id, ok := t.lookupMerge(s.id, syms[s.next].id); ok {
				h = heapPush(h, mergeItem{uint64(rank)<<32 | uint64(pos), id})
			}
		}
	}
	out := make([]int32, 0, 8)
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	sc.syms, sc.heap = syms, h
	return out
}

func heapInit(h []mergeItem) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
}

func heapPush(h []mergeItem, it mergeItem) []mergeItem {
	h = append(h, it)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= h[i].key {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func heapPop(h []mergeItem) []mergeItem {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	siftDown(h, 0)
	return h
}

func siftDown(h []mergeItem, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].key < h[l].key {
			m = r
		}
		if h[i].key <= h[m].key {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Encode tokenises text as Hugging Face's tokenizer.encode(text,
// add_special_tokens=False): added tokens first, then NFC, the Split
// pre-tokenizer, byte-level mapping and BPE. Qwen adds no BOS/EOS. Invalid
// UTF-8 in text is first replaced by U+FFFD, one per maximal invalid
// subsequence (Hugging Face only sees valid strings).
func (t *Tokenizer) Encode(text string) []int {
	if !utf8.ValidString(text) {
		text = toValidUTF8(text)
	}
	ids := make([]int, 0, len(text)/3+1)
	var spans [16]span
	for _, sp := range t.raw.split(text, 0, spans[:0]) {
		if sp.id >= 0 {
			ids = append(ids, sp.id)
			continue
		}
		seg := text[sp.start:sp.end]
		if t.nfc {
			seg = nfcString(seg)
		}
		var spans2 [4]span
		for _, sp2 := range t.norm.split(seg, 0, spans2[:0]) {
			if sp2.id >= 0 {
				ids = append(ids, sp2.id)
				continue
			}
			part := seg[sp2.start:sp2.end]
			preTokenize(part, func(a, b int) { ids = t.bpe(part[a:b], ids) })
		}
	}
	return ids
}

// nfcString is tokenizers' NFC normaliser. That one uses older Unicode data
// than x/text: code points that take part in normalisation for Go but that
// tokenizers does not know (hfNormKnown) are opaque starters there, so the
// text is normalised piecewise between them.
func nfcString(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) || norm.NFC.IsNormalString(s) {
		// if Go finds nothing to change, neither does tokenizers, which
		// decomposes and composes a subset of what Go does
		return s
	}
	var out []byte
	last := 0
	for i < len(s) {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if !hfKnowsNorm(r) && goNormRole(s[i:i+w]) {
			// (not AppendString: that would normalise across the boundary)
			out = append(out, norm.NFC.String(s[last:i])...)
			out = append(out, s[i:i+w]...)
			last = i + w
		}
		i += w
	}
	if out == nil {
		return norm.NFC.String(s)
	}
	return string(append(out, norm.NFC.String(s[last:])...))
}

// goNormRole reports whether the character c takes part in normalisation
// for x/text: a non-zero combining class, a canonical decomposition, or
// combining with what precedes it.
func goNormRole(c string) bool {
	p := norm.NFC.PropertiesString(c)
	return p.CCC() != 0 || !p.BoundaryBefore() || norm.NFD.PropertiesString(c).Decomposition() != nil
}

func hfKnowsNorm(r rune) bool {
	lo, hi := 0, len(hfNormKnown)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case r < hfNormKnown[m][0]:
			hi = m
		case r >= hfNormKnown[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}
