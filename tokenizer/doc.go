// Package tokenizer is the Qwen byte-level BPE tokenizer and chat-template
// renderer, exact to Hugging Face tokenizers and transformers.
//
// It reads a checkpoint's tokenizer.json (vocabulary, merges, added tokens,
// normaliser, pre-tokenizer, decoder) and tokenizer_config.json (chat
// template, added-token flags, eos/pad/bos tokens) and reproduces the
// reference behaviour:
//
//   - added tokens (special or not, e.g. <|im_end|> and <think>) are matched
//     first, leftmost-longest, on the raw text;
//   - the remaining text is NFC-normalised and split by a hand-written scanner
//     that implements Qwen's Split pre-tokenizer regex with Oniguruma
//     semantics (Unicode \s, \p{L}, \p{N}, the \s+(?!\S) lookahead, and the
//     case-insensitive contractions, where 'ſ' folds to 's');
//   - every piece is mapped to the GPT-2 byte-level alphabet and merged by
//     merge rank with a heap over a linked list of symbols (n log n, so
//     pathological inputs such as 200 000 spaces stay fast);
//   - decoding maps tokens back to bytes and turns invalid UTF-8 into one
//     U+FFFD per maximal invalid subsequence, as Rust's from_utf8_lossy; a
//     StreamDecoder emits text incrementally without ever splitting a
//     character.
//
// Unicode behaviour is pinned to tokenizers' own, not to the Go toolchain's
// tables: unicode_classes.go holds the \p{L}/\p{N}/\s classes that
// Oniguruma gives every code point and the code points whose normalisation
// tokenizers' (older) NFC data knows; both were probed from the reference by
// testdata/gen_unicode_classes.js.
//
// Chat templates are the checkpoint's own Jinja chat_template, rendered with
// gonja using the transformers environment (trim_blocks, lstrip_blocks,
// Python-style tojson, raise_exception).
//
// Reference data in testdata/ comes from Hugging Face's Rust tokenizers (npm
// package tokenizers 0.23.2) through gen_reference.js (GSM8K ids, tricky
// strings, decode and added-token cases) and from jinja2 in transformers'
// environment through gen_chat_cases.py; the scripts say how to rerun them.
// The tests need neither node nor Python.
//
// The package is a leaf: it knows nothing about models, tensors or the hub.
// A *Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer
