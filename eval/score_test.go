package eval

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latentmas/latentmas/eval/sandbox"
)

func mustTask(t *testing.T, name string) *Task {
	t.Helper()
	task, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

type scoreCase struct {
	name       string
	task       string
	item       Item
	output     string
	refPred    string
	refOK      bool
	robustPred string
	robustOK   bool
	refMsg     string // substring expected in the reference message
}

func runScoreCases(t *testing.T, cases []scoreCase) {
	t.Helper()
	var s Scorer
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := mustTask(t, c.task)
			ref, robust, err := s.Score(context.Background(), task, c.item, c.output)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Pred != c.refPred || ref.Correct != c.refOK {
				t.Errorf("reference: pred %q correct %v, want %q %v (msg %q)", ref.Pred, ref.Correct, c.refPred, c.refOK, ref.Message)
			}
			if robust.Pred != c.robustPred || robust.Correct != c.robustOK {
				t.Errorf("robust: pred %q correct %v, want %q %v (msg %q)", robust.Pred, robust.Correct, c.robustPred, c.robustOK, robust.Message)
			}
			if !strings.Contains(ref.Message, c.refMsg) {
				t.Errorf("reference message %q does not contain %q", ref.Message, c.refMsg)
			}
		})
	}
}

func gsm(gold, robust string) Item { return Item{Gold: gold, GoldRobust: robust} }

func TestScoreMath(t *testing.T) {
	g18 := gsm("18", "18")
	runScoreCases(t, []scoreCase{
		{"boxed integer", "gsm8k", g18, `so \boxed{18}`, "18", true, "18", true, ""},
		{"last box wins", "gsm8k", g18, `\boxed{17} no wait \boxed{18}`, "18", true, "18", true, ""},
		{"no box: last number", "gsm8k", g18, "3 eggs cost $2 each ... so 18", "18", true, "18", true, ""},
		{"dollar sign", "gsm8k", g18, `\boxed{\$18}`, "18", true, "18", true, ""},
		{"negative", "gsm8k", gsm("-5", "-5"), `\boxed{-5}`, "-5", true, "-5", true, ""},
		// S2: no numeric equivalence in the reference.
		{"S2 18.0 vs 18", "gsm8k", g18, `\boxed{18.0}`, "18.0", false, "18", true, ""},
		{"S2 18.00 vs 18", "gsm8k", g18, `\boxed{18.00}`, "18.00", false, "18", true, ""},
		// S2: the first number in the box, thousands separators split it.
		{"S2 thousands separator", "gsm8k", gsm("1000", "1000"), `\boxed{1,000}`, "1", false, "1000", true, ""},
		{"S2 first number in box", "gsm8k", g18, `\boxed{3 \times 6 = 18}`, "3", false, "18", true, ""},
		// S1: nested braces cut the box short.
		{"S1 frac", "gsm8k", gsm("0.5", "0.5"), `\boxed{\frac{1}{2}}`, "1", false, "0.5", true, ""},
		{"S1 frac equal to integer", "gsm8k", g18, `\boxed{\dfrac{36}{2}}`, "36", false, "18", true, ""},
		{"S1 text wrapper", "gsm8k", g18, `\boxed{\text{18 dollars}}`, "18", true, "18", true, ""},
		{"plain a/b", "gsm8k", gsm("0.75", "0.75"), `\boxed{3/4}`, "3", false, "0.75", true, ""},
		// The gold side of S2: "#### 2,125" is gold "2" in the reference.
		{"gold with separator, answer with separator", "gsm8k", gsm("2", "2125"), `\boxed{2,125}`, "2", true, "2125", true, ""},
		{"gold with separator, plain answer", "gsm8k", gsm("2", "2125"), `\boxed{2125}`, "2125", false, "2125", true, ""},
		{"no number at all", "gsm8k", g18, "I cannot tell.", "", false, "", false, ""},
		{"box without number", "gsm8k", g18, `\boxed{eighteen}`, "eighteen", false, "eighteen", false, ""},
		// Robust prefers the answer after </think>.
		{"think then answer", "gsm8k", g18, "<think>\nmaybe 17? 16+2 = 18, then 20\n</think>\nThe total is 18.", "18", true, "18", true, ""},
		{"number inside think, box after", "gsm8k", g18, `<think>try \boxed{7}</think> \boxed{18} (from 3 steps)`, "18", true, "18", true, ""},
		{"answer after think, reasoning numbers later in text", "gsm8k", g18, "<think>12 and 7</think>18", "18", true, "18", true, ""},
	})
}

func TestScoreAIME(t *testing.T) {
	g := Item{Gold: "033", GoldRobust: "033"}
	runScoreCases(t, []scoreCase{
		{"integer", "aime2024", g, `\boxed{33}`, "33", true, "33", true, ""},
		{"leading zeros", "aime2025", g, `\boxed{033}`, "033", true, "33", true, ""},
		{"float in box", "aime2024", g, `\boxed{33.0}`, "33.0", false, "33", true, "Value error in parsing answer"},
		{"non-integer", "aime2024", g, `\boxed{33.5}`, "33.5", false, "33.5", false, "Value error"},
		{"words in box", "aime2024", g, `\boxed{thirty-three}`, "thirty-three", false, "thirty-three", false, "Value error"},
		{"wrong integer", "aime2024", g, `\boxed{34}`, "34", false, "34", false, ""},
		// S4: the reference crashes (TypeError on None); here it is wrong.
		{"S4 no number at all", "aime2024", g, "I give up.", "", false, "", false, "S4"},
		{"S1 frac", "aime2024", Item{Gold: "5", GoldRobust: "5"}, `\boxed{\frac{10}{2}}`, "10", false, "5", true, ""},
	})
}

func TestScoreMC(t *testing.T) {
	arc := Item{Gold: "b", GoldRobust: "b", Choices: []Choice{{"a", "steam"}, {"b", "ice"}, {"c", "rock"}, {"d", "sand"}}}
	arc5 := Item{Gold: "e", GoldRobust: "e", Choices: []Choice{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}}
	gpqa := Item{Gold: "b", GoldRobust: "b"}
	medqa := Item{Gold: "a", GoldRobust: "c", Choices: []Choice{{"a", "Pancreatic cancer"}, {"b", "Ulcer"}, {"c", "Cancer"}, {"d", "None"}}}
	runScoreCases(t, []scoreCase{
		{"letter", "arc_easy", arc, `\boxed{B}`, "b", true, "b", true, ""},
		{"lower-case letter", "arc_challenge", arc, `\boxed{b}`, "b", true, "b", true, ""},
		{"S1 text letter", "arc_easy", arc, `\boxed{\text{B}}`, `\text{b`, false, "b", true, ""},
		{"S1 textbf letter", "gpqa", gpqa, `\boxed{\textbf{B}}`, `\textbf{b`, false, "b", true, ""},
		{"parenthesised letter", "gpqa", gpqa, `\boxed{(B)}`, "(b)", false, "b", true, ""},
		{"letter with text", "arc_easy", arc, `\boxed{B) ice}`, "b) ice", false, "b", true, ""},
		{"S2 letter with number", "gpqa", gpqa, `\boxed{B) 10^-4}`, "10", false, "b", true, ""},
		{"S2 option text in box", "arc_easy", arc, `\boxed{Ice}`, "ice", false, "b", true, ""},
		{"answer prefix in box", "gpqa", gpqa, `\boxed{Answer: B}`, "answer: b", false, "b", true, ""},
		// S3: no box falls back to the last number.
		{"S3 no box", "gpqa", gpqa, "Comparing 3 options, the answer is (B).", "3", false, "b", true, ""},
		{"S3 no box, answer colon", "arc_easy", arc, "Step 1 ... step 2.\n**Answer: B**", "2", false, "b", true, ""},
		{"S3 no box, nothing", "gpqa", gpqa, "It is hard to say.", "", false, "", false, ""},
		// S6: a fifth option is an ordinary letter for both scorers.
		{"S6 fifth option", "arc_easy", arc5, `\boxed{E}`, "e", true, "e", true, ""},
		{"letter beyond the options", "arc_easy", arc, `\boxed{E}`, "e", false, "", false, ""},
		// S5: the reference gold is the first option containing the answer.
		{"S5 medqa substring gold", "medqa", medqa, `\boxed{C}`, "c", false, "c", true, ""},
		{"wrong letter", "arc_easy", arc, `\boxed{A}`, "a", false, "a", false, ""},
		{"option text starting like a letter", "arc_easy", Item{Gold: "b", GoldRobust: "b", Choices: []Choice{{"a", "x"}, {"b", "A cat"}}}, `\boxed{a cat}`, "a cat", false, "b", true, ""},
		{"letter with option text", "medqa", medqa, `\boxed{C. Cancer}`, "c. cancer", false, "c", true, ""},
		{"last box after think", "gpqa", gpqa, `<think>\boxed{A}?</think> \boxed{B}`, "b", true, "b", true, ""},
	})
}

// recorder is a stub code runner: it records programs and passes those that
// contain "return a + b".
type recorder struct{ programs []string }

func (r *recorder) run(_ context.Context, code string, _ sandbox.Options) (sandbox.Result, error) {
	r.programs = append(r.programs, code)
	if strings.Contains(code, "return a + b") {
		return sandbox.Result{OK: true}, nil
	}
	return sandbox.Result{Error: "Traceback (most recent call last):\nAssertionError"}, nil
}

func TestScoreCodeProgram(t *testing.T) {
	he := Item{Gold: "def check(add):\n    assert add(1, 2) == 3\n\n\ncheck(add)", EntryPoint: "add"}
	he.GoldRobust = he.Gold
	task := mustTask(t, "humanevalplus")
	good := "```python\ndef add(a, b):\n    return a + b\n```"

	rec := &recorder{}
	s := Scorer{Run: rec.run}
	ref, robust, err := s.Score(context.Background(), task, he, "Here:\n```Python\nx = 1\n```\nBetter:\n"+good+"\nDone.")
	if err != nil {
		t.Fatal(err)
	}
	wantProg := "def add(a, b):\n    return a + b\n" + he.Gold
	if len(rec.programs) != 1 || rec.programs[0] != wantProg {
		t.Errorf("programs run %q, want exactly [%q]", rec.programs, wantProg)
	}
	if !ref.Correct || !robust.Correct || ref.Pred != "def add(a, b):\n    return a + b" {
		t.Errorf("ref %+v robust %+v", ref, robust)
	}

	// ```py is not a python block for the reference.
	rec.programs = nil
	ref, robust, _ = s.Score(context.Background(), task, he, "```py\ndef add(a, b):\n    return a + b\n```")
	if ref.Correct || ref.HasPred || ref.Message != "python error: No python code block found" || !robust.Correct {
		t.Errorf("```py: ref %+v robust %+v", ref, robust)
	}
	// No block at all: nothing runs.
	rec.programs = nil
	ref, robust, _ = s.Score(context.Background(), task, he, "def add(a, b): return a + b")
	if ref.Correct || robust.Correct || len(rec.programs) != 0 {
		t.Errorf("no block: ref %+v robust %+v, ran %d programs", ref, robust, len(rec.programs))
	}

	// S7: MBPP+ test_imports are ignored by the reference, prepended by the
	// robust scorer.
	mb := Item{Gold: "assert add(1, 2) == 3\n", GoldRobust: "assert add(1, 2) == 3\n", TestImports: []string{"import math"}}
	rec.programs = nil
	_, _, err = s.Score(context.Background(), mustTask(t, "mbppplus"), mb, good)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.programs) != 2 || strings.HasPrefix(rec.programs[0], "import math") || !strings.HasPrefix(rec.programs[1], "import math\n") {
		t.Errorf("programs %q", rec.programs)
	}
}

func TestScoreCodeSandboxed(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	task := mustTask(t, "mbppplus")
	item := Item{
		Gold:        "assert hyp(3, 4) == 5.0\n",
		GoldRobust:  "assert hyp(3, 4) == 5.0\n",
		TestImports: []string{"import math"},
	}
	s := Scorer{Sandbox: sandbox.Options{Timeout: time.Second}}
	cases := []struct {
		name             string
		output           string
		refOK, robustOK  bool
		refMsg, robusMsg string
	}{
		{"correct", "```python\nimport math\ndef hyp(a, b):\n    return math.hypot(a, b)\n```", true, true, "", ""},
		{"wrong", "```python\ndef hyp(a, b):\n    return a + b\n```", false, false, "AssertionError", "AssertionError"},
		{"missing import fixed by test_imports", "```python\ndef hyp(a, b):\n    return math.sqrt(a*a + b*b)\n```", false, true, "NameError", ""},
		{"timeout", "```python\nwhile True:\n    pass\n```", false, false, "TimeoutError", "TimeoutError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, robust, err := s.Score(context.Background(), task, item, c.output)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Correct != c.refOK || robust.Correct != c.robustOK {
				t.Errorf("ref %v (%q) robust %v (%q), want %v %v", ref.Correct, ref.Message, robust.Correct, robust.Message, c.refOK, c.robustOK)
			}
			if !strings.Contains(ref.Message, c.refMsg) || !strings.Contains(robust.Message, c.robusMsg) {
				t.Errorf("messages %q / %q, want %q / %q", ref.Message, robust.Message, c.refMsg, c.robusMsg)
			}
		})
	}
	// A missing interpreter is an error of the scorer, not a wrong answer.
	bad := Scorer{Sandbox: sandbox.Options{Python: "/nonexistent/python3"}}
	_, err := bad.Reference(context.Background(), task, item, cases[0].output)
	if !errors.Is(err, sandbox.ErrPythonNotFound) {
		t.Errorf("missing python: %v", err)
	}
}

func TestExtractors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`\boxed{42}`, "42", true},
		{`\boxed{+7.5 m}`, "+7.5", true},
		{`\boxed{ abc }`, "abc", true},
		{`\boxed{}`, "", true},
		{`\boxed{\text{A}}`, `\text{A`, true},
		{"1 then 2.5 then -3", "-3", true},
		{"x.5", "5", true},
		{"nothing", "", false},
	} {
		got, ok := ExtractBoxedOrNumber(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ExtractBoxedOrNumber(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{`\boxed{\frac{1}{2}}`, `\frac{1}{2}`, true},
		{`\boxed {a{b}c} and \fbox{z}`, "z", true},
		{`\fbox{z} then \boxed{\{x\}}`, `\{x\}`, true},
		{`\boxed{unclosed`, "", false},
		{`\boxed x`, "", false},
	} {
		got, ok := LastBoxed(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("LastBoxed(%q) = %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
	code, ok := ExtractPythonBlock("```PYTHON\n  x = 1  \n```\ntext\n```python\ny = 2\n```")
	if !ok || code != "y = 2" {
		t.Errorf("ExtractPythonBlock = %q %v", code, ok)
	}
	for in, want := range map[string]string{
		"```py\na = 1\n```":                              "a = 1",
		"```python3\na = 2\n```":                         "a = 2",
		"```\na = 3\n```":                                "a = 3",
		"<think>```python\nno\n```</think>```\nyes\n```": "yes",
	} {
		if got, ok := RobustCode(in); !ok || got != want {
			t.Errorf("RobustCode(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestPyInt(t *testing.T) {
	for in, want := range map[string]string{"33": "33", " 033 ": "33", "+5": "5", "-0": "0", "1_000": "1000", "\u0661\u0662": "12"} {
		n, err := pyInt(in)
		if err != nil || n.String() != want {
			t.Errorf("pyInt(%q) = %v, %v; want %s", in, n, err, want)
		}
	}
	for _, in := range []string{"", "33.0", "1__0", "_1", "1_", "3e2", "x", "- 3"} {
		if _, err := pyInt(in); err == nil {
			t.Errorf("pyInt(%q): want an error", in)
		}
	}
}

// FuzzScore checks that extraction and both scorers never panic and that a
// box holding the gold is always right for the robust scorer.
func FuzzScore(f *testing.F) {
	for _, s := range []string{`\boxed{18}`, `\boxed{\frac{1}{2}}`, `<think>\boxed{`, `\boxed{B) x}`, "```python\nx\n```", `\boxed{{{}}}`, `\fbox{\`} {
		f.Add(s)
	}
	tasks := []*Task{}
	for _, n := range []string{"gsm8k", "aime2024", "arc_easy"} {
		task, _ := Lookup(n)
		tasks = append(tasks, task)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ExtractBoxedOrNumber(s)
		LastBoxed(s)
		RobustCode(s)
		var sc Scorer
		items := []Item{{Gold: "18", GoldRobust: "18"}, {Gold: "33", GoldRobust: "33"}, {Gold: "b", GoldRobust: "b", Choices: []Choice{{"a", "x"}, {"b", s}}}}
		for i, task := range tasks {
			if _, err := sc.Reference(context.Background(), task, items[i], s); err != nil {
				t.Fatal(err)
			}
			if _, err := sc.Robust(context.Background(), task, items[i], s); err != nil {
				t.Fatal(err)
			}
			o, _ := sc.Robust(context.Background(), task, items[i], s+`\boxed{`+items[i].GoldRobust+`}`)
			if !o.Correct && !strings.ContainsAny(s, `{}\`) && !strings.Contains(s, "</think>") {
				t.Errorf("robust scorer misses a trailing box of the gold after %q: %+v", s, o)
			}
		}
	})
}
