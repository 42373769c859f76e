package eval

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"unicode"

	"github.com/latentmas/latentmas/eval/sandbox"
)

// Two scorers are reported side by side:
//
// Reference (`accuracy`) reproduces REFERENCE.md §4.2 exactly, quirks
// included, so numbers are comparable with the paper:
//   - S1 the box regex stops at the first "}" (\boxed{\text{A}} → "\text{a",
//     \boxed{\frac{1}{2}} → "1")                                   reproduced
//   - S2 the first number inside the box ("1,000" → "1", "B) 10^-4" → "10");
//     no numeric equivalence ("18.0" ≠ "18")                        reproduced
//   - S3 multiple choice without a box falls back to the last number
//     (always wrong)                                                reproduced
//   - S4 AIME with no number at all: the reference crashes with a TypeError;
//     here it is simply wrong, with a message                       deviation
//   - S5 MedQA gold = first option containing the answer text (Item.Gold)
//                                                                   reproduced
//   - S6 ARC options e / 3 or 5 options: labels are mapped as the reference
//     does (gold "e" is scored like any letter)                     reproduced
//   - S7 code runs with exec() in a fresh namespace, test_imports ignored;
//     the only change is that it runs in eval/sandbox instead of a bare fork
//                                                                   sandboxed
//   - S8 is about the run loop's summary (time per sample, reported split);
//     Task.Split gives the split really used.
//
// Robust (`accuracy_robust`) fixes them: balanced braces in \boxed{...},
// \text/\mathrm/\textbf wrappers, \frac and a/b, thousands separators,
// numeric equivalence (18.0 == 18), "x = 18", letter answers written as
// "B) ...", "(B)", \text{B} or as the option's text, "the answer is (B)"
// without a box, the answer after </think> preferred to numbers inside the
// reasoning, ```py / bare code fences, MBPP+ test_imports, and the gold of
// Item.GoldRobust (GSM8K thousands separators, MedQA exact option match).

// Outcome is the verdict of one scorer on one output.
type Outcome struct {
	// Pred is the extracted prediction (normalised answer, or code); "" when
	// none was found.
	Pred string
	// HasPred is false when nothing could be extracted (the reference's None).
	HasPred bool
	// Correct is the verdict.
	Correct bool
	// Message is the reference's error_msg: a traceback, a timeout, a parse
	// failure, or "" when there is nothing to say.
	Message string
	// Exec is the sandbox result for code tasks (nil otherwise or when no code
	// was found).
	Exec *sandbox.Result
}

// Scorer scores outputs; its zero value uses eval/sandbox with default limits.
type Scorer struct {
	// Sandbox bounds code execution (zero: 10 s, the reference's timeout).
	Sandbox sandbox.Options
	// Run executes a program; nil means sandbox.Run.
	Run func(ctx context.Context, code string, opts sandbox.Options) (sandbox.Result, error)
}

// ---- reference extraction (utils.py of the reference, §4.2) ----

var (
	refBoxRe    = regexp.MustCompile(`\\boxed\{([^}]*)\}`)
	refNumberRe = regexp.MustCompile(`[-+]?` + pyDigit + `+(?:\.` + pyDigit + `+)?`)
	refPythonRe = regexp.MustCompile("(?is)```python(.*?)```")
)

// ExtractBoxedOrNumber is the reference's answer extraction: the last
// \boxed{...} whose content has no "}", and in it the first number (else the
// stripped content); without a box, the last number in the text. ok is false
// where the reference returns None.
func ExtractBoxedOrNumber(text string) (pred string, ok bool) {
	if boxes := refBoxRe.FindAllStringSubmatch(text, -1); len(boxes) > 0 {
		content := boxes[len(boxes)-1][1]
		if n := refNumberRe.FindString(content); n != "" {
			return n, true
		}
		return pyStrip(content), true
	}
	if nums := refNumberRe.FindAllString(text, -1); len(nums) > 0 {
		return nums[len(nums)-1], true
	}
	return "", false
}

// ExtractPythonBlock is the reference's code extraction: the content of the
// last ```python ... ``` block (case-insensitive, across lines), stripped.
func ExtractPythonBlock(text string) (code string, ok bool) {
	m := refPythonRe.FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		return "", false
	}
	return pyStrip(m[len(m)-1][1]), true
}

// Reference scores output with the reference's rules (accuracy).
func (s *Scorer) Reference(ctx context.Context, t *Task, it Item, output string) (Outcome, error) {
	switch t.Rule {
	case RuleCode:
		code, ok := ExtractPythonBlock(output)
		if !ok {
			return Outcome{Message: "python error: No python code block found"}, nil
		}
		return s.runCode(ctx, code, code+"\n"+it.Gold)
	case RuleInteger:
		pred, ok := ExtractBoxedOrNumber(output)
		o := Outcome{Pred: normalize(pred), HasPred: ok}
		gold := pyStrip(it.Gold)
		if !ok {
			// The reference aborts the whole run here (TypeError, §6 S4).
			o.Message = fmt.Sprintf("no answer found (the reference crashes here, REFERENCE.md §6 S4). Gold: %s", gold)
			return o, nil
		}
		p, perr := pyInt(o.Pred)
		g, gerr := pyInt(gold)
		if perr != nil || gerr != nil {
			o.Message = fmt.Sprintf("Value error in parsing answer. Pred: %s, Gold: %s", o.Pred, gold)
			return o, nil
		}
		o.Correct = p.Cmp(g) == 0
		return o, nil
	default:
		pred, ok := ExtractBoxedOrNumber(output)
		o := Outcome{Pred: normalize(pred), HasPred: ok}
		o.Correct = o.Pred != "" && it.Gold != "" && o.Pred == it.Gold
		return o, nil
	}
}

// isDecimalDigit is Python's str.isdecimal for one rune (Unicode Nd).
func isDecimalDigit(r rune) bool { return unicode.Is(unicode.Nd, r) }

// digitValue maps a Unicode decimal digit to '0'..'9'. Nd digits come in
// contiguous runs of whole 0–9 sets, so the value is the offset in the run
// modulo 10.
func digitValue(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	start := r
	for isDecimalDigit(start - 1) {
		start--
	}
	return '0' + (r-start)%10
}

// pyInt parses like Python's int(str): surrounding whitespace, a sign,
// decimal digits (any script) with single underscores between them.
func pyInt(s string) (*big.Int, error) {
	s = pyStrip(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var b strings.Builder
	prevDigit := false
	for _, r := range s {
		switch {
		case r == '_' && prevDigit:
			prevDigit = false
			continue
		case isDecimalDigit(r):
			b.WriteRune(digitValue(r))
			prevDigit = true
		default:
			return nil, fmt.Errorf("invalid literal for int(): %q", s)
		}
	}
	if b.Len() == 0 || !prevDigit {
		return nil, fmt.Errorf("invalid literal for int(): %q", s)
	}
	n, ok := new(big.Int).SetString(b.String(), 10)
	if !ok {
		return nil, fmt.Errorf("invalid literal for int(): %q", s)
	}
	if neg {
		n.Neg(n)
	}
	return n, nil
}

// ---- robust scoring ----

// Robust scores output with the robust rules (accuracy_robust).
func (s *Scorer) Robust(ctx context.Context, t *Task, it Item, output string) (Outcome, error) {
	switch t.Rule {
	case RuleCode:
		code, ok := RobustCode(output)
		if !ok {
			return Outcome{Message: "no python code block found"}, nil
		}
		return s.runCode(ctx, code, robustProgram(code, it))
	case RuleInteger, RuleString:
		if t.Family == FamilyMC {
			return scoreRobustMC(it, output), nil
		}
		return scoreRobustMath(t, it, output), nil
	}
	return Outcome{}, fmt.Errorf("eval: task %s has no scoring rule", t.Name)
}

// Score runs both scorers; a program that both would run identically is
// executed once.
func (s *Scorer) Score(ctx context.Context, t *Task, it Item, output string) (ref, robust Outcome, err error) {
	if t.Rule != RuleCode {
		if ref, err = s.Reference(ctx, t, it, output); err != nil {
			return
		}
		robust, err = s.Robust(ctx, t, it, output)
		return
	}
	ref, err = s.Reference(ctx, t, it, output)
	if err != nil {
		return
	}
	rc, rok := ExtractPythonBlock(output)
	bc, bok := RobustCode(output)
	if rok && bok && rc == bc && robustProgram(bc, it) == rc+"\n"+it.Gold {
		robust = ref
		return
	}
	robust, err = s.Robust(ctx, t, it, output)
	return
}

func (s *Scorer) runCode(ctx context.Context, code, program string) (Outcome, error) {
	run := s.Run
	if run == nil {
		run = sandbox.Run
	}
	res, err := run(ctx, program, s.Sandbox)
	if err != nil {
		return Outcome{Pred: code, HasPred: true}, err
	}
	return Outcome{Pred: code, HasPred: true, Correct: res.OK, Message: res.Error, Exec: &res}, nil
}

func robustProgram(code string, it Item) string {
	var b strings.Builder
	for _, imp := range it.TestImports {
		b.WriteString(imp)
		b.WriteByte('\n')
	}
	b.WriteString(code)
	b.WriteByte('\n')
	b.WriteString(it.GoldRobust)
	return b.String()
}

var (
	robustFenceRe = regexp.MustCompile("(?is)```[ \t]*(python3?|py)[ \t]*\r?\n(.*?)```")
	bareFenceRe   = regexp.MustCompile("(?s)```[ \t]*\r?\n(.*?)```")
)

// RobustCode extracts the last ```python / ```python3 / ```py block, else the
// last unlabelled ``` block, preferring the part after </think>.
func RobustCode(text string) (string, bool) {
	for _, part := range answerParts(text) {
		if m := robustFenceRe.FindAllStringSubmatch(part, -1); len(m) > 0 {
			return strings.TrimSpace(m[len(m)-1][2]), true
		}
		if m := bareFenceRe.FindAllStringSubmatch(part, -1); len(m) > 0 {
			return strings.TrimSpace(m[len(m)-1][1]), true
		}
	}
	return "", false
}

// answerParts is where to look for the final answer, in order: the text
// after the last </think> (when there is one), then the whole text.
func answerParts(text string) []string {
	if i := strings.LastIndex(text, "</think>"); i >= 0 {
		return []string{text[i+len("</think>"):], text}
	}
	return []string{text}
}

// LastBoxed returns the content of the last \boxed{...} (or \fbox{...}) in
// text with balanced braces.
func LastBoxed(text string) (string, bool) {
	content, best := "", -1
	for _, cmd := range []string{`\boxed`, `\fbox`} {
		for i := 0; ; {
			j := strings.Index(text[i:], cmd)
			if j < 0 {
				break
			}
			start := i + j
			i = start + len(cmd)
			k := i
			for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
				k++
			}
			if k >= len(text) || text[k] != '{' {
				continue
			}
			if end := matchBrace(text, k); end >= 0 && start > best {
				content, best = text[k+1:end], start
			}
		}
	}
	return content, best >= 0
}

// matchBrace returns the index of the "}" closing the "{" at open, or -1.
// Escaped braces (\{, \}) do not count.
func matchBrace(text string, open int) int {
	depth := 0
	for p := open; p < len(text); p++ {
		switch text[p] {
		case '\\':
			p++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return p
			}
		}
	}
	return -1
}

var (
	wrapperRe   = regexp.MustCompile(`\\(?:text|textbf|textit|textrm|texttt|mathrm|mathbf|mathit|mathsf|operatorname|mbox|boxed)\s*\{([^{}]*)\}`)
	fracRe      = regexp.MustCompile(`\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}`)
	fracShortRe = regexp.MustCompile(`\\[dt]?frac\s*(\d)\s*(\d)`)
	latexNoise  = strings.NewReplacer(`\left`, "", `\right`, "", `\!`, "", `\,`, "", `\;`, "", `\:`, "", `\ `, " ",
		`\$`, "", "$", "", `\%`, "", "%", "", `{,}`, ",", "−", "-", `^\circ`, "", `^{\circ}`, "", `\displaystyle`, "")
	// A number with optional thousands separators and decimals, or a
	// fraction a/b of such numbers.
	robustNumRe = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*[-+]?\d+(?:\.\d+)?)?|[-+]?\.\d+`)
)

// cleanLatex removes formatting that does not change an answer's value.
func cleanLatex(s string) string {
	s = latexNoise.Replace(s)
	for i := 0; i < 8; i++ {
		t := wrapperRe.ReplaceAllString(s, "$1")
		t = fracRe.ReplaceAllString(t, "($1)/($2)")
		t = fracShortRe.ReplaceAllString(t, "$1/$2")
		if t == s {
			break
		}
		s = t
	}
	return strings.TrimSpace(s)
}

// parseNumber reads a plain number, "a/b", "(a)/(b)" or a thousands-
// separated number as an exact rational.
func parseNumber(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, "/"); ok {
		x, ok1 := parseNumber(strings.Trim(strings.TrimSpace(a), "()"))
		y, ok2 := parseNumber(strings.Trim(strings.TrimSpace(b), "()"))
		if !ok1 || !ok2 || y.Sign() == 0 {
			return nil, false
		}
		return new(big.Rat).Quo(x, y), true
	}
	s = strings.ReplaceAll(s, ",", "")
	s = strings.TrimPrefix(s, "+")
	if s == "" || strings.ContainsAny(s, "eE") {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// robustNumber finds the numeric answer in a box's content or a text:
// the whole thing if it is a number, else the right-hand side of the last
// "=", else its first number (content) or last number (free text).
func robustNumber(s string, first bool) (*big.Rat, bool) {
	s = cleanLatex(s)
	if r, ok := parseNumber(s); ok {
		return r, true
	}
	if i := strings.LastIndex(s, "="); i >= 0 {
		if r, ok := parseNumber(s[i+1:]); ok {
			return r, true
		}
		if first {
			s = s[i+1:]
		}
	}
	nums := robustNumRe.FindAllString(s, -1)
	if len(nums) == 0 {
		return nil, false
	}
	n := nums[len(nums)-1]
	if first {
		n = nums[0]
	}
	return parseNumber(n)
}

// formatRat writes r as an integer, a terminating decimal, or a/b.
func formatRat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	for prec := 1; prec <= 20; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s
		}
	}
	return r.RatString()
}

func scoreRobustMath(t *Task, it Item, output string) Outcome {
	var pred *big.Rat
	var raw string
	found := false
	for _, part := range answerParts(output) {
		if box, ok := LastBoxed(part); ok {
			raw, found = box, true
			pred, _ = robustNumber(box, true)
			break
		}
	}
	if !found {
		for _, part := range answerParts(output) {
			if r, ok := robustNumber(part, false); ok {
				pred, found = r, true
				break
			}
		}
	}
	if !found {
		return Outcome{Message: "no answer found"}
	}
	o := Outcome{HasPred: true}
	gold, gok := parseNumber(it.GoldRobust)
	if pred == nil {
		// A box without a number: compare the cleaned text.
		o.Pred = normalize(cleanLatex(raw))
		o.Correct = o.Pred != "" && o.Pred == normalize(it.GoldRobust)
		if t.Rule == RuleInteger {
			o.Correct = false
			o.Message = fmt.Sprintf("no number in the answer %q", raw)
		}
		return o
	}
	o.Pred = formatRat(pred)
	switch {
	case !gok:
		o.Correct = o.Pred == normalize(it.GoldRobust)
	case t.Rule == RuleInteger:
		o.Correct = pred.IsInt() && pred.Cmp(gold) == 0
	default:
		o.Correct = pred.Cmp(gold) == 0
	}
	return o
}

var (
	letterPrefixRe = regexp.MustCompile(`(?i)^(?:the\s+)?(?:correct\s+)?(?:final\s+)?(?:answer|option|choice)\s*(?:is)?\s*[:：]?\s*`)
	leadLetterRe   = regexp.MustCompile(`^[\(\[]?\s*([A-Za-z])\s*(?:[\)\]]|$|[.:,;]|\s)`)
	answerIsRe     = regexp.MustCompile(`(?i)(?:answer|option|choice)\s*(?:is|:|：)\s*[*_\s]*(?:option\s+|choice\s+)?[\(\[]?\s*([A-Ea-e])\b`)
	nonWordRe      = regexp.MustCompile(`[^\p{L}\p{N}]+`)
)

func allowedLetters(it Item) map[string]bool {
	m := map[string]bool{}
	for _, c := range it.Choices {
		m[c.Label] = true
	}
	if len(m) == 0 {
		for _, l := range []string{"a", "b", "c", "d", "e"} {
			m[l] = true
		}
	}
	return m
}

func squash(s string) string {
	return strings.TrimSpace(nonWordRe.ReplaceAllString(strings.ToLower(s), " "))
}

// robustLetter reads a letter answer out of a box's content: "B", "(B)",
// "B) text", "\text{B}", "Answer: B", or the text of one option.
func robustLetter(content string, it Item) (string, bool) {
	allowed := allowedLetters(it)
	c := cleanLatex(content)
	c = strings.Trim(c, "*_ ")
	c = letterPrefixRe.ReplaceAllString(c, "")
	// The whole content being one option's text wins ("A cat" is an option,
	// not the letter a), then a leading letter.
	if sc := squash(c); sc != "" {
		for _, ch := range it.Choices {
			if squash(ch.Text) == sc {
				return ch.Label, true
			}
		}
	}
	if m := leadLetterRe.FindStringSubmatch(c); m != nil {
		if l := strings.ToLower(m[1]); allowed[l] {
			return l, true
		}
	}
	return "", false
}

func scoreRobustMC(it Item, output string) Outcome {
	gold := it.GoldRobust
	done := func(l string) Outcome {
		return Outcome{Pred: l, HasPred: true, Correct: l != "" && l == gold}
	}
	for _, part := range answerParts(output) {
		if box, ok := LastBoxed(part); ok {
			if l, ok := robustLetter(box, it); ok {
				return done(l)
			}
		}
	}
	allowed := allowedLetters(it)
	for _, part := range answerParts(output) {
		ms := answerIsRe.FindAllStringSubmatch(part, -1)
		for i := len(ms) - 1; i >= 0; i-- {
			if l := strings.ToLower(ms[i][1]); allowed[l] {
				return done(l)
			}
		}
	}
	return Outcome{Message: "no letter answer found"}
}
