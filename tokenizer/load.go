package tokenizer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Tokenizer is a loaded byte-level BPE tokenizer with its chat template. It is
// immutable after Load and safe for concurrent use.
type Tokenizer struct {
	vocab     map[string]int // model vocabulary (without added tokens)
	idToToken []string       // id -> token string, model and added tokens; "" = hole
	isAdded   []bool         // id -> is an added token
	special   []bool         // id -> is a special added token (skipped when decoding with skipSpecial)
	// bytes of each token once decoded (byte-level mapped back), indexed by id
	tokenBytes [][]byte

	byteID [256]int32        // id of each single-byte symbol
	merges map[uint64]uint64 // (left<<32 | right) -> (rank<<32 | merged id)

	added   []addedToken // all added tokens
	addedID map[string]int
	raw     *addedMatcher // added tokens with normalized=false, matched on raw text
	norm    *addedMatcher // added tokens with normalized=true, matched on normalised text

	nfc bool // normaliser is NFC (else none)

	cacheMu sync.RWMutex
	cache   map[string][]int32 // pre-token -> ids; dropped when it reaches maxCacheEntries

	mergeList   []uint64 // (left<<32 | right) ids by rank, for the fingerprint
	fpOnce      sync.Once
	fingerprint [32]byte

	chatTemplate string
	bos, eos     string
	pad          string
	bosID, eosID int
	padID        int
	templateVars map[string]any // special tokens passed to the chat template
	tmplOnce     sync.Once
	tmpl         *chatTemplate
	tmplErr      error
}

// addedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type tokenizerJSON struct {
	AddedTokens  []addedToken    `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        struct {
		Type                    string         `json:"type"`
		Dropout                 *float64       `json:"dropout"`
		UnkToken                *string        `json:"unk_token"`
		ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
		ByteFallback            bool           `json:"byte_fallback"`
		IgnoreMerges            bool           `json:"ignore_merges"`
		Vocab                   map[string]int `json:"-"` // read by parseTokenizerJSON
		merges                  [][2]string    // read by parseTokenizerJSON
	} `json:"model"`
}

// tokenSpec is a special token in tokenizer_config.json: a plain string or an
// AddedToken object with a "content" field.
type tokenSpec string

func (s *tokenSpec) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*s = ""
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = tokenSpec(str)
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*s = tokenSpec(obj.Content)
	return nil
}

type configJSON struct {
	ChatTemplate       json.RawMessage `json:"chat_template"`
	BOSToken           tokenSpec       `json:"bos_token"`
	EOSToken           tokenSpec       `json:"eos_token"`
	PadToken           tokenSpec       `json:"pad_token"`
	UnkToken           tokenSpec       `json:"unk_token"`
	AddedTokensDecoder map[string]struct {
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	} `json:"added_tokens_decoder"`
	AdditionalSpecialTokens []tokenSpec `json:"additional_special_tokens"`
}

// Load reads DIR/tokenizer.json and DIR/tokenizer_config.json. If
// DIR/chat_template.jinja exists it is the chat template, as in transformers;
// otherwise the template is tokenizer_config.json's chat_template.
func Load(dir string) (*Tokenizer, error) {
	t, err := LoadFiles(filepath.Join(dir, "tokenizer.json"), filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	jinja := filepath.Join(dir, "chat_template.jinja")
	if b, err := os.ReadFile(jinja); err == nil {
		t.chatTemplate = string(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// LoadFiles reads a tokenizer.json and a tokenizer_config.json.
// configJSONPath may be "" when there is none (then there is no chat template
// and no eos/pad). Errors name the file at fault.
func LoadFiles(tokenizerJSONPath, configJSONPath string) (*Tokenizer, error) {
	b, err := os.ReadFile(tokenizerJSONPath)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var cfg []byte
	if configJSONPath != "" {
		cfg, err = os.ReadFile(configJSONPath)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	t, err := parse(b, cfg)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// fileError names the file a parse error came from.
type fileError struct {
	file string
	err  error
}

func (e *fileError) Error() string { return "tokenizer: " + e.file + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

func parse(tokJSON, cfgJSON []byte) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := parseTokenizerJSON(tokJSON, &tj); err != nil {
		return nil, &fileError{"tokenizer.json", err}
	}
	var cj configJSON
	if cfgJSON != nil {
		if err := json.Unmarshal(cfgJSON, &cj); err != nil {
			return nil, &fileError{"tokenizer_config.json", err}
		}
	}
	t, err := build(&tj)
	if err != nil {
		return nil, &fileError{"tokenizer.json", err}
	}
	if err := t.applyConfig(&cj); err != nil {
		return nil, &fileError{"tokenizer_config.json", err}
	}
	return t, nil
}

// the only Split pattern supported: Qwen2/2.5/3's pre-tokenizer regex.
const qwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

type component struct {
	Type           string          `json:"type"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
	Normalizers    []component     `json:"normalizers"`
	Pretokenizers  []component     `json:"pretokenizers"`
	Decoders       []component     `json:"decoders"`
}

func isNull(b json.RawMessage) bool {
	return len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

func checkNormalizer(raw json.RawMessage) (nfc bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, fmt.Errorf("normalizer: %w", err)
	}
	switch c.Type {
	case "NFC":
		return true, nil
	case "Sequence":
		if len(c.Normalizers) == 0 {
			return false, nil
		}
		if len(c.Normalizers) == 1 && c.Normalizers[0].Type == "NFC" {
			return true, nil
		}
	}
	return false, fmt.Errorf("unsupported normalizer %s (only NFC or none)", raw)
}

func checkPreTokenizer(raw json.RawMessage) error {
	bad := fmt.Errorf("unsupported pre_tokenizer %s (only Qwen's Split regex followed by ByteLevel with use_regex=false)", raw)
	var c component
	if isNull(raw) || json.Unmarshal(raw, &c) != nil || c.Type != "Sequence" || len(c.Pretokenizers) != 2 {
		return bad
	}
	sp, bl := c.Pretokenizers[0], c.Pretokenizers[1]
	var pat struct{ Regex string }
	if sp.Type != "Split" || json.Unmarshal(sp.Pattern, &pat) != nil || pat.Regex != qwenPattern ||
		sp.Behavior != "Isolated" || sp.Invert {
		return bad
	}
	if bl.Type != "ByteLevel" || bl.AddPrefixSpace || bl.UseRegex == nil || *bl.UseRegex {
		return bad
	}
	return nil
}

func checkDecoder(raw json.RawMessage) error {
	var c component
	if isNull(raw) || json.Unmarshal(raw, &c) != nil || c.Type != "ByteLevel" {
		return fmt.Errorf("unsupported decoder %s (only ByteLevel)", raw)
	}
	return nil
}

func build(tj *tokenizerJSON) (*Tokenizer, error) {
	m := &tj.Model
	if m.Type != "" && m.Type != "BPE" {
		return nil, fmt.Errorf("unsupported model type %q (only BPE)", m.Type)
	}
	if m.ByteFallback || (m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "") ||
		(m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "") || (m.Dropout != nil && *m.Dropout != 0) || m.IgnoreMerges {
		return nil, errors.New("unsupported BPE options (byte_fallback, continuing_subword_prefix, end_of_word_suffix, dropout, ignore_merges)")
	}
	if len(m.Vocab) == 0 {
		return nil, errors.New("model.vocab is empty")
	}
	nfc, err := checkNormalizer(tj.Normalizer)
	if err != nil {
		return nil, err
	}
	if err := checkPreTokenizer(tj.PreTokenizer); err != nil {
		return nil, err
	}
	if err := checkDecoder(tj.Decoder); err != nil {
		return nil, err
	}
	merges := tj.Model.merges

	t := &Tokenizer{vocab: m.Vocab, nfc: nfc, bosID: -1, eosID: -1, padID: -1}
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 || id > 1<<24 {
			return nil, fmt.Errorf("model.vocab[%q] = %d: id out of range", tok, id)
		}
		maxID = max(maxID, id)
	}
	t.idToToken = make([]string, maxID+1)
	t.isAdded = make([]bool, maxID+1)
	t.special = make([]bool, maxID+1)
	for tok, id := range m.Vocab {
		t.idToToken[id] = tok
	}
	for i := range t.byteID {
		id, ok := m.Vocab[string(byteToRune[i])]
		if !ok {
			return nil, fmt.Errorf("model.vocab lacks the byte-level symbol %q for byte 0x%02x", string(byteToRune[i]), i)
		}
		t.byteID[i] = int32(id)
	}

	t.merges = make(map[uint64]uint64, len(merges))
	t.mergeList = make([]uint64, len(merges))
	var buf []byte
	for rank, p := range merges {
		a, ok1 := m.Vocab[p[0]]
		b, ok2 := m.Vocab[p[1]]
		buf = append(append(buf[:0], p[0]...), p[1]...)
		ab, ok3 := m.Vocab[string(buf)]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("model.merges[%d] = %q %q: token not in vocabulary", rank, p[0], p[1])
		}
		// a repeated pair keeps its last rank, as tokenizers' HashMap collect does
		t.merges[uint64(a)<<32|uint64(b)] = uint64(rank)<<32 | uint64(ab)
		t.mergeList[rank] = uint64(a)<<32 | uint64(b)
	}

	t.addedID = map[string]int{}
	for _, a := range tj.AddedTokens {
		t.addAdded(a)
	}
	t.rebuildMatchers()

	// decoded bytes of every token, in one allocation (never longer than the token)
	t.tokenBytes = make([][]byte, len(t.idToToken))
	total := 0
	for _, tok := range t.idToToken {
		total += len(tok)
	}
	backing := make([]byte, 0, total)
	for id, tok := range t.idToToken {
		if tok != "" {
			start := len(backing)
			backing = appendTokenBytes(backing, tok)
			t.tokenBytes[id] = backing[start:len(backing):len(backing)]
		}
	}
	return t, nil
}

// addAdded adds a token as tokenizers' AddedVocabulary::add_tokens does
// (the id stored in the file is not used; tokenizers only warns when it
// differs): a token identical to an existing one is ignored; content that is
// already an added token or in the model vocabulary keeps that id (the flags
// are updated); anything else gets the next id after the added tokens, at
// least the vocabulary size.
func (t *Tokenizer) addAdded(a addedToken) {
	if a.Content == "" {
		return
	}
	id, ok := t.addedID[a.Content]
	if ok {
		for i := range t.added {
			if t.added[i].ID == id {
				a.ID = id
				if t.added[i] == a {
					return
				}
				t.added[i] = a
				t.special[id] = a.Special
				return
			}
		}
	}
	if vid, inVocab := t.vocab[a.Content]; inVocab {
		id = vid
	} else {
		id = len(t.vocab)
		for _, b := range t.added {
			if b.ID >= len(t.vocab) {
				id = max(id, b.ID+1)
			}
		}
	}
	a.ID = id
	if id >= len(t.idToToken) {
		n := id + 1
		t.idToToken = append(t.idToToken, make([]string, n-len(t.idToToken))...)
		t.isAdded = append(t.isAdded, make([]bool, n-len(t.isAdded))...)
		t.special = append(t.special, make([]bool, n-len(t.special))...)
		if t.tokenBytes != nil {
			t.tokenBytes = append(t.tokenBytes, make([][]byte, n-len(t.tokenBytes))...)
		}
	}
	for i, b := range t.added { // an added token that had this id loses it
		if b.ID == id {
			delete(t.addedID, b.Content)
			t.added = append(t.added[:i], t.added[i+1:]...)
			break
		}
	}
	t.added = append(t.added, a)
	t.addedID[a.Content] = id
	t.idToToken[id] = a.Content
	t.isAdded[id] = true
	t.special[id] = a.Special
	if t.tokenBytes != nil {
		t.tokenBytes[id] = appendTokenBytes(nil, a.Content)
	}
}

func (t *Tokenizer) rebuildMatchers() {
	var raw, norm []addedToken
	for _, a := range t.added {
		if a.Normalized {
			norm = append(norm, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.raw = newAddedMatcher(raw)
	t.norm = newAddedMatcher(norm)
}

// applyConfig takes what tokenizer_config.json adds: chat template, extra
// added tokens, and the bos/eos/pad tokens.
func (t *Tokenizer) applyConfig(cj *configJSON) error {
	if !isNull(cj.ChatTemplate) {
		var s string
		if err := json.Unmarshal(cj.ChatTemplate, &s); err != nil {
			// a list of named templates: use "default"
			var named []struct{ Name, Template string }
			if err2 := json.Unmarshal(cj.ChatTemplate, &named); err2 != nil {
				return fmt.Errorf("chat_template: %w", err)
			}
			for _, n := range named {
				if n.Name == "default" {
					s = n.Template
				}
			}
			if s == "" {
				return errors.New("chat_template: a list without a \"default\" template")
			}
		}
		t.chatTemplate = s
	}
	// added tokens only in the config (transformers adds them to the tokenizer)
	ids := make([]int, 0, len(cj.AddedTokensDecoder))
	byID := map[int]addedToken{}
	for k, v := range cj.AddedTokensDecoder {
		var id int
		if _, err := fmt.Sscan(k, &id); err != nil || id < 0 || id > 1<<24 {
			return fmt.Errorf("added_tokens_decoder: bad id %q", k)
		}
		if v.Content == "" {
			return fmt.Errorf("added_tokens_decoder[%s]: empty content", k)
		}
		ids = append(ids, id)
		byID[id] = addedToken{ID: id, Content: v.Content, SingleWord: v.SingleWord, LStrip: v.LStrip,
			RStrip: v.RStrip, Normalized: v.Normalized, Special: v.Special}
	}
	named := map[string]bool{}
	for _, s := range append([]tokenSpec{cj.BOSToken, cj.EOSToken, cj.PadToken, cj.UnkToken}, cj.AdditionalSpecialTokens...) {
		named[string(s)] = true
	}
	sort.Ints(ids)
	// transformers' PreTrainedTokenizerFast.__init__: tokens of
	// added_tokens_decoder that differ from the backend's (content or flags)
	// are added again, special if named as special tokens; named special
	// tokens the backend lacks are added as special tokens.
	known := map[string]bool{}
	for _, a := range t.added {
		known[a.Content] = true
	}
	var toAdd []addedToken
	for _, id := range ids {
		a := byID[id]
		same := false
		for _, b := range t.added {
			c := a
			c.ID = b.ID
			if c == b {
				same = true
				break
			}
		}
		if !same {
			toAdd = append(toAdd, a)
			known[a.Content] = true
		}
	}
	for _, s := range append([]tokenSpec{cj.BOSToken, cj.EOSToken, cj.UnkToken, cj.PadToken}, cj.AdditionalSpecialTokens...) {
		if s != "" && !known[string(s)] {
			toAdd = append(toAdd, addedToken{Content: string(s), Special: true})
			known[string(s)] = true
		}
	}
	for _, a := range toAdd {
		a.Special = a.Special || named[a.Content]
		t.addAdded(a)
	}
	if len(toAdd) > 0 {
		t.rebuildMatchers()
	}
	set := func(name tokenSpec, tok *string, id *int) error {
		if name == "" {
			return nil
		}
		i, ok := t.TokenID(string(name))
		if !ok {
			return fmt.Errorf("special token %q is not in the vocabulary", string(name))
		}
		*tok, *id = string(name), i
		return nil
	}
	if err := set(cj.BOSToken, &t.bos, &t.bosID); err != nil {
		return err
	}
	if err := set(cj.EOSToken, &t.eos, &t.eosID); err != nil {
		return err
	}
	if err := set(cj.PadToken, &t.pad, &t.padID); err != nil {
		return err
	}
	t.templateVars = map[string]any{}
	for name, v := range map[string]tokenSpec{"bos_token": cj.BOSToken, "eos_token": cj.EOSToken,
		"pad_token": cj.PadToken, "unk_token": cj.UnkToken} {
		if v != "" {
			t.templateVars[name] = string(v)
		}
	}
	if len(cj.AdditionalSpecialTokens) > 0 {
		l := make([]any, len(cj.AdditionalSpecialTokens))
		for i, s := range cj.AdditionalSpecialTokens {
			l[i] = string(s)
		}
		t.templateVars["additional_special_tokens"] = l
	}
	return nil
}

func (t *Tokenizer) computeFingerprint() [32]byte {
	h := sha256.New()
	var n [8]byte
	wstr := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	wint := func(i int) {
		binary.LittleEndian.PutUint64(n[:], uint64(i))
		h.Write(n[:])
	}
	wstr("latentmas-tokenizer-v1")
	if t.nfc {
		wstr("NFC")
	}
	wstr(qwenPattern)
	wint(len(t.idToToken))
	for id, tok := range t.idToToken {
		if tok != "" && !t.isAdded[id] {
			wint(id)
			wstr(tok)
		}
	}
	wint(len(t.mergeList))
	for _, p := range t.mergeList {
		wint(int(p))
	}
	added := append([]addedToken(nil), t.added...)
	sort.Slice(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	wint(len(added))
	for _, a := range added {
		wint(a.ID)
		wstr(a.Content)
		flags := 0
		for i, f := range []bool{a.SingleWord, a.LStrip, a.RStrip, a.Normalized, a.Special} {
			if f {
				flags |= 1 << i
			}
		}
		wint(flags)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
