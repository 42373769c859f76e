// gen_reference.js regenerates the reference token ids that the Go tests
// compare against, with Hugging Face's own (Rust) tokenizers through the npm
// package `tokenizers` (prebuilt binding, no Python needed):
//
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm install tokenizers@0.23.2
//   NODE_PATH=/tmp/tokref/node_modules node gen_reference.js \
//       ../../../shared/data/tokenizer/qwen3/tokenizer.json \
//       ../../../shared/data/gsm8k/test.jsonl
//
// (paths relative to tokenizer/testdata). It writes:
//   gsm8k_ids.jsonl.gz  one {"line", "field", "ids"} per GSM8K question/answer
//   cases.json          tricky strings -> ids, byte sequences -> decoded text, and
//                       added-token flags (tokens from extra_added_tokens.json)
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const [tokPath, gsmPath] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokPath);
const version = require('tokenizers/package.json').version;

async function encode(s) {
  const enc = await tok.encode(s, null, { addSpecialTokens: false });
  return Array.from(enc.getIds());
}

// deterministic PRNG (mulberry32)
function rng(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tricky = [
  "", " ", "  ", "\n", "\r\n", " \n ", "a", "A", "'", "''", "'s", "'S", "'ſ", "'ſa", "x'ſt", "'ll'LL'Ll'lL",
  "'re'RE'Re've'VE'm'M'd'D't'T", "don't won'T I'M", "'\u212a", "'ﬅ", "'İ", "abc'", "it's'", "'s's's",
  "a\u3000b\u00a0c\u0085d\u2028e\u2029f\u1680g\u202fh\u205fi", "x\u0085\u0085y", "x\u3000\u3000y", "x\u180e\u180ey",
  "x\u200b\u200by", "1\u00b2\u2167x\u0660\u0661", "12345678901234567890", "3.14159e-10", "٣٤٥ ५६", "Ⅻ½¾",
  "hello   ", "hello   world", "hello\t\tworld", "\t\thello", "a  \n  b", "a \r\n\r\n b", "a\n\n\n", "a\r\rb",
  "   leading", "trailing   ", " \t \n \t ", "\n \n \n", "x \n", "x\n ", "x \r\n y", "(hello", "((hello", "!!!abc",
  " !!!\n\n", " ?\r\n", "a-b_c.d/e\\f", "@user #tag $100 %50 ^& *", "<|im_start|>", "<|im_start|><|im_end|>",
  " <|im_start|> ", "<|im_start|>user\nhi<|im_end|>\n", "<think></think>", "<think>\n\n</think>\n\n",
  "x<think>y</think>z", "<|endoftext|><|endoftext|>", "<|im_end", "<|im_end|", "|im_end|>", "<<|im_end|>>",
  "<tool_call>{\"a\": 1}</tool_call>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>", "<|IM_START|>",
  "<|vision_start|><|image_pad|><|vision_end|>", "\u00e9\u0065\u0301\u00c5\u0041\u030a", "\u1100\u1161\u11a8",
  "e\u0301\u0301\u0327", "\u0915\u094d\u0937", "ﬁ ﬂ ﬀ", "Ω Ω K K", "ǅ ǈ", "ẞ ß SS",
  "🏳️‍🌈 👩🏽‍💻 🇺🇳 🧑‍🤝‍🧑", "\u{1F600}\u{1F601}\u{1F602}", "\ufeffBOM", "\u0000\u0001\u0007\u001b[0m",
  "\u007f\u0080\u009f", "\u{11935}\u{11930}", "a\u{1ABF}\u0316\u0301", "a\u{1DFA}\u0301", "x\u{0898}\u0316",
  "e\u0301\u{1AC1}\u0316 o\u0308\u{10EFD}\u0304", "\u{2EBF0}\u{2EBF1} +\u{1C89}a", "\u{16D40}\u{16D41} \u{31350}x",
  "\u{11383}\u{113C9} \u{16D67}\u{16D67} \u{1611E}\u{1611E}", "\u1100\u1161\u11a8\u{1ABF}\u0301", "\uffff\ufffe\ufffd", "\u{10ffff}\u{e0001}", "α-β γ.δ", "中文，标点。“引号”",
  "日本語のテキストです。カタカナ", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم", "שלום עולם",
  "ไทย ภาษา", "ελληνικά ΕΛΛΗΝΙΚΆ", "Ünïcödé café naïve", "C++ && C# || F#", "a...b…c", "--- *** ___ ===",
  "$$\\frac{1}{2}$$ \\boxed{42}", "#### 18", "<<16-3-4=9>>9", "x=1;y=2\r\n\tz=3", "    def f():\n        return 1\n",
  "\"quoted\" 'single' `back`", "https://example.com/path?q=1&r=2#frag", "user@example.com", "2024-01-15T12:30:00Z",
  "a".repeat(300), "ab".repeat(200), " ".repeat(100), "\n".repeat(50), "!".repeat(80), "1".repeat(50), "é".repeat(40),
  "の".repeat(60), "🍕".repeat(20), "<|im_end|>".repeat(5), "Ġ", "Ċ", "ĠĠ", "âĢ", "\u0100\u0101",
];

// random strings over a small, nasty alphabet
const alphabet = [..."aZ0 '\t\n\r.!<>|_sStTmMlLrReEvVdD", "ſ", "é", "e\u0301", "\u0316", "\u{1ABF}", "\u{11930}", "\u{11935}", "\u3000", "\u00a0", "\u0085", "中",
  "🍕", "<|im_end|>", "<think>", "\u2028", "½", "٣", "K"];
const r = rng(12345);
for (let i = 0; i < 400; i++) {
  const n = 1 + Math.floor(r() * 24);
  let s = "";
  for (let j = 0; j < n; j++) s += alphabet[Math.floor(r() * alphabet.length)];
  tricky.push(s);
}

// byte sequences for decoding: byte-level token ids chosen so that UTF-8
// validity varies (lone continuation bytes, truncated sequences, overlongs,
// surrogates, > U+10FFFF, valid characters)
const byteLevel = {};
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byteLevel[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
}
const interesting = [0x41, 0x20, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee,
  0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
const byteCases = [];
const r2 = rng(777);
for (let i = 0; i < 300; i++) {
  const n = 1 + Math.floor(r2() * 8);
  const bytes = [];
  for (let j = 0; j < n; j++) bytes.push(interesting[Math.floor(r2() * interesting.length)]);
  byteCases.push(bytes);
}
byteCases.push([0xe2, 0x82, 0xac], [0xe2, 0x82], [0xe2, 0x82, 0x41], [0xf0, 0x9f, 0x8d, 0x95], [0xf0, 0x9f, 0x8d],
  [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80]);

async function main() {
  const cases = { reference: `tokenizers@${version} (npm, Rust)`, encode: [], decode: [] };
  for (const s of tricky) cases.encode.push({ text: s, ids: await encode(s) });
  for (const bytes of byteCases) {
    const ids = bytes.map((b) => tok.tokenToId(byteLevel[b]));
    cases.decode.push({ bytes, ids, text: await tok.decode(ids, false) });
  }
  // skip_special_tokens
  for (const s of ["<|im_start|>user\nhi<|im_end|>\n<think>x</think><|endoftext|>", "<tool_call>a</tool_call><|fim_pad|>"]) {
    const ids = await encode(s);
    cases.decode.push({ ids, skip_special: true, text: await tok.decode(ids, true) });
    cases.decode.push({ ids, skip_special: false, text: await tok.decode(ids, false) });
  }
  // added-token flags (lstrip, rstrip, single_word, normalized) on a copy of
  // the Qwen tokenizer with extra added tokens (the Go test adds the same)
  const extra = JSON.parse(fs.readFileSync(path.join(__dirname, 'extra_added_tokens.json'), 'utf8'));
  const tj = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  tj.added_tokens.push(...extra);
  const tok2 = Tokenizer.fromString(JSON.stringify(tj));
  cases.added = [];
  for (const s of [" <L> x", "a  <L>b", "\n\t<L>", "<R>   c", "<R>\n\nd", "<R>", "<L><L> <L>", "<R> <R>  <L>",
    "word words sword word_ word. (word)", "a wordb", "word", " word ", "wordword", "wordé éword",
    "cafe\u0301 caf\u00e9 CAF\u00c9", "x <S> y", "x<S>y", "<Lo><L>o <Lo", "a <R><L> b", "  <S>  <S>  "]) {
    const enc = await tok2.encode(s, null, { addSpecialTokens: false });
    const ids = Array.from(enc.getIds());
    cases.added.push({ text: s, ids, decoded: await tok2.decode(ids, false), decoded_skip: await tok2.decode(ids, true) });
  }
  fs.writeFileSync(path.join(__dirname, 'cases.json'), JSON.stringify(cases, null, 0) + '\n');

  const lines = fs.readFileSync(gsmPath, 'utf8').split('\n').filter((l) => l.length > 0);
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const rec = JSON.parse(lines[i]);
    for (const field of ['question', 'answer']) {
      out.push(JSON.stringify({ line: i, field, ids: await encode(rec[field]) }));
    }
  }
  const gz = zlib.gzipSync(out.join('\n') + '\n', { level: 9 });
  fs.writeFileSync(path.join(__dirname, 'gsm8k_ids.jsonl.gz'), gz);
  console.error(`${tricky.length} encode cases, ${cases.decode.length} decode cases, ${out.length} GSM8K strings`);
}
main();
