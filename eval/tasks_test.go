package eval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// sharedData finds the shared data directory: $LATENTMAS_DATA, else
// ../shared/data next to the module root (the directory holding go.mod).
func sharedData(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LATENTMAS_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "data")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

func sharedFile(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(sharedData(t), rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data missing: %v", err)
	}
	return p
}

func TestLoadGSM8KJSONL(t *testing.T) {
	items, err := Load(context.Background(), "gsm8k", LoadOptions{DataPath: sharedFile(t, "gsm8k/test.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1319 {
		t.Fatalf("%d items, want 1319", len(items))
	}
	first := items[0]
	if !strings.HasPrefix(first.Question, "Janet\u2019s ducks lay 16 eggs") || first.Gold != "18" || first.GoldRobust != "18" {
		t.Errorf("item 0: question %.30q gold %q robust %q", first.Question, first.Gold, first.GoldRobust)
	}
	if !strings.HasSuffix(first.Solution, "#### 18") {
		t.Errorf("solution is not the full answer text: %q", first.Solution)
	}
	// Negative gold keeps its sign.
	if g := items[489].Gold; !strings.HasPrefix(g, "-") {
		t.Errorf("item 489 gold %q, want a negative number", g)
	}
	// "#### 2,125": the reference regex stops at the comma (gold "2"); the
	// robust gold keeps the whole number.
	if it := items[146]; it.Gold != "2" || it.GoldRobust != "2125" {
		t.Errorf("item 146 gold %q robust %q, want 2 and 2125", it.Gold, it.GoldRobust)
	}
	for i, it := range items {
		if it.Index != i || it.Question == "" || it.Gold == "" || it.Question != strings.TrimSpace(it.Question) {
			t.Fatalf("item %d malformed: %+v", i, it)
		}
	}
}

func TestLoadMedQA(t *testing.T) {
	path := sharedFile(t, "medqa/medqa.json")
	for _, opts := range []LoadOptions{{DataPath: path}, {DataDir: sharedData(t)}} {
		items, err := Load(context.Background(), "medqa", opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 300 {
			t.Fatalf("%d items, want 300", len(items))
		}
		var raw []map[string]any
		data, _ := os.ReadFile(path)
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if it.Question != raw[i]["query"] {
				t.Fatalf("item %d: question is not the query verbatim", i)
			}
			if len(it.Gold) != 1 || it.Gold < "a" || it.Gold > "d" || len(it.Choices) != 4 {
				t.Fatalf("item %d: gold %q, %d choices", i, it.Gold, len(it.Choices))
			}
		}
		if it := items[0]; it.Gold != "c" || it.Choices[2].Text != "Colorectal cancer" || it.ID != "0" {
			t.Errorf("item 0: gold %q choice c %q id %q", it.Gold, it.Choices[2].Text, it.ID)
		}
		// pid 155: answer "X" is in both "C. X" and "D. XII"; the first wins
		// (and it is the right one, so the robust gold agrees).
		for _, it := range items {
			if it.ID == "155" && (it.Gold != "c" || it.GoldRobust != "c") {
				t.Errorf("pid 155: gold %q robust %q, want c", it.Gold, it.GoldRobust)
			}
		}
	}
}

func TestMedQANeedsData(t *testing.T) {
	t.Setenv("LATENTMAS_DATA", "")
	_, err := Load(context.Background(), "medqa", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("error %v, want a hint about --data", err)
	}
}

// S5: the reference takes the first option containing the answer text; the
// robust gold prefers an option equal to it.
func TestMedQAGoldSubstring(t *testing.T) {
	task, _ := Lookup("medqa")
	rec := Record{"query": "Q?", "answer": "cancer", "pid": "7",
		"options": []any{"A. Pancreatic cancer", "B. Ulcer", "C. Cancer", "D. None"}}
	it, err := task.BuildItem(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	if it.Gold != "a" || it.GoldRobust != "c" {
		t.Errorf("gold %q robust %q, want a (reference) and c (robust)", it.Gold, it.GoldRobust)
	}
	rec["answer"] = "Nothing matches"
	it, _ = task.BuildItem(rec, 0)
	if it.Gold != "" || it.GoldRobust != "" {
		t.Errorf("no matching option: gold %q robust %q, want empty", it.Gold, it.GoldRobust)
	}
}

// ---- parquet fixtures, written with the same library ----

type pqGSM8K struct {
	Question string `parquet:"question"`
	Answer   string `parquet:"answer"`
}
type pqAIME24 struct {
	ID       int64  `parquet:"id"`
	Problem  string `parquet:"problem"`
	Solution string `parquet:"solution"`
	Answer   string `parquet:"answer"`
}
type pqAIME25 struct {
	Problem string `parquet:"problem"`
	Answer  int64  `parquet:"answer"`
}
type pqGPQA struct {
	Question string `parquet:"question"`
	Answer   string `parquet:"answer"`
}
type pqChoices struct {
	Text  []string `parquet:"text,list"`
	Label []string `parquet:"label,list"`
}
type pqARC struct {
	ID        string    `parquet:"id"`
	Question  string    `parquet:"question"`
	Choices   pqChoices `parquet:"choices"`
	AnswerKey string    `parquet:"answerKey"`
}
type pqMBPP struct {
	TaskID      int64    `parquet:"task_id"`
	Code        string   `parquet:"code"`
	Prompt      string   `parquet:"prompt"`
	TestImports []string `parquet:"test_imports,list"`
	TestList    []string `parquet:"test_list,list"`
	Test        string   `parquet:"test"`
}
type pqHumanEval struct {
	TaskID     string `parquet:"task_id"`
	Prompt     string `parquet:"prompt"`
	Entry      string `parquet:"entry_point"`
	Canonical  string `parquet:"canonical_solution"`
	Test       string `parquet:"test"`
	Contract   string `parquet:"contract"`
	BaseInput  string `parquet:"base_input"`
	PlusInput  string `parquet:"plus_input"`
	Atol       float64
	Unrelated  *string `parquet:"unrelated,optional"`
	unexported int
}

func writeParquet[T any](t *testing.T, name string, rows []T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

const mbppTest = "import numpy as np\n\ndef assertion(out, exp, atol):\n    assert out == exp\n\ninputs = [[1, 2]]\nresults = [3]\nfor i, (inp, exp) in enumerate(zip(inputs, results)):\n    assertion(add(*inp), exp, 0)\n"

const heTest = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(0, 0) == 0\n"

// fixtures writes one small parquet file per Hub task.
func fixtures(t *testing.T) map[string]string {
	return map[string]string{
		"gsm8k": writeParquet(t, "gsm8k.parquet", []pqGSM8K{
			{Question: "  What is 2+2? \n", Answer: "2+2=<<2+2=4>>4\n#### 4"},
			{Question: "Big?", Answer: "So\n#### 1,000"},
		}),
		"aime2024": writeParquet(t, "aime24.parquet", []pqAIME24{
			{ID: 60, Problem: " Find $x$.\n", Solution: "...", Answer: "033"},
		}),
		"aime2025": writeParquet(t, "aime25.parquet", []pqAIME25{
			{Problem: "Find y.", Answer: 70},
		}),
		"gpqa": writeParquet(t, "gpqa.parquet", []pqGPQA{
			{Question: "Which is right?\nA) one\nB) two\nC) three\nD) four\n", Answer: " C "},
		}),
		"arc_easy": writeParquet(t, "arc.parquet", []pqARC{
			{ID: "Mercury_1", Question: "Which is a gas? ", Choices: pqChoices{Text: []string{" steam ", "ice", "rock", "sand"}, Label: []string{"1", "2", "3", "4"}}, AnswerKey: "1"},
			{ID: "Mercury_2", Question: "Pick E.", Choices: pqChoices{Text: []string{"a1", "b1", "c1", "d1", "e1"}, Label: []string{"A", "B", "C", "D", "E"}}, AnswerKey: "E"},
			{ID: "Mercury_3", Question: "Three options.", Choices: pqChoices{Text: []string{"x", "y", "z"}, Label: []string{"A", "B", "C"}}, AnswerKey: "B"},
		}),
		"mbppplus": writeParquet(t, "mbpp.parquet", []pqMBPP{
			{TaskID: 2, Code: "def add(a, b): return a + b", Prompt: "Write a function add(a, b).",
				TestImports: []string{"import math"},
				TestList:    []string{"assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0", "assert add(5, 5) == 10"},
				Test:        mbppTest},
		}),
		"humanevalplus": writeParquet(t, "he.parquet", []pqHumanEval{
			{TaskID: "HumanEval/0", Prompt: "def add(a, b):\n    \"\"\"Add.\"\"\"\n", Entry: "add", Test: heTest},
		}),
	}
}

// fakeFetcher serves fixture files and records what was asked for.
type fakeFetcher struct {
	files map[string]string // task -> path
	task  string
	calls []string
}

func (f *fakeFetcher) DownloadFile(_ context.Context, repoType, repoID, revision, filename string) (string, error) {
	f.calls = append(f.calls, strings.Join([]string{repoType, repoID, revision, filename}, " "))
	return f.files[f.task], nil
}

func TestLoadParquetTasks(t *testing.T) {
	fx := fixtures(t)
	fx["arc_challenge"] = fx["arc_easy"]
	q := func(prompt string) string { return CodeInstruction + "\n" + CodePlaceholder + "\n" + prompt + "\n" }
	want := map[string][]Item{
		"gsm8k": {
			{Index: 0, Question: "What is 2+2?", Solution: "2+2=<<2+2=4>>4\n#### 4", Gold: "4", GoldRobust: "4"},
			{Index: 1, Question: "Big?", Solution: "So\n#### 1,000", Gold: "1", GoldRobust: "1000"},
		},
		"aime2024": {{Index: 0, ID: "60", Question: "Find $x$.", Solution: "033", Gold: "033", GoldRobust: "033"}},
		"aime2025": {{Index: 0, Question: "Find y.", Solution: "70", Gold: "70", GoldRobust: "70"}},
		"gpqa": {{Index: 0, Question: "Which is right?\nA) one\nB) two\nC) three\nD) four", Solution: "C", Gold: "c", GoldRobust: "c",
			Choices: []Choice{{"a", "one"}, {"b", "two"}, {"c", "three"}, {"d", "four"}}}},
		"arc_easy": {
			{Index: 0, ID: "Mercury_1", Question: "Which is a gas?\na: steam\nb: ice\nc: rock\nd: sand", Solution: "a", Gold: "a", GoldRobust: "a",
				Choices: []Choice{{"a", "steam"}, {"b", "ice"}, {"c", "rock"}, {"d", "sand"}}},
			{Index: 1, ID: "Mercury_2", Question: "Pick E.\na: a1\nb: b1\nc: c1\nd: d1\ne: e1", Solution: "e", Gold: "e", GoldRobust: "e",
				Choices: []Choice{{"a", "a1"}, {"b", "b1"}, {"c", "c1"}, {"d", "d1"}, {"e", "e1"}}},
			{Index: 2, ID: "Mercury_3", Question: "Three options.\na: x\nb: y\nc: z", Solution: "b", Gold: "b", GoldRobust: "b",
				Choices: []Choice{{"a", "x"}, {"b", "y"}, {"c", "z"}}},
		},
		"mbppplus": {{Index: 0, ID: "2",
			Question: q("Write a function add(a, b).") + CodeTestsIntro + "\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n",
			Solution: mbppTest, Gold: mbppTest, GoldRobust: mbppTest, TestImports: []string{"import math"}}},
		"humanevalplus": {{Index: 0, ID: "HumanEval/0", Question: q("def add(a, b):\n    \"\"\"Add.\"\"\"\n"),
			Solution:   "def check(add):\n    assert add(1, 2) == 3\n    assert add(0, 0) == 0\n\n\ncheck(add)",
			Gold:       "def check(add):\n    assert add(1, 2) == 3\n    assert add(0, 0) == 0\n\n\ncheck(add)",
			GoldRobust: "def check(add):\n    assert add(1, 2) == 3\n    assert add(0, 0) == 0\n\n\ncheck(add)",
			EntryPoint: "add"}},
	}
	want["arc_challenge"] = want["arc_easy"]
	for name, wantItems := range want {
		t.Run(name, func(t *testing.T) {
			task, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			// Through the Hub fetcher ...
			f := &fakeFetcher{files: fx, task: name}
			got, err := Load(context.Background(), name, LoadOptions{Fetcher: f, Split: "validation"})
			if name == "gsm8k" {
				// gsm8k honours --split; the fixture table has no validation.
				if err == nil {
					t.Fatal("gsm8k split validation: want an error")
				}
				got, err = Load(context.Background(), name, LoadOptions{Fetcher: f, Split: "test"})
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, wantItems) {
				t.Errorf("items:\n got %#v\nwant %#v", got, wantItems)
			}
			split := task.Split("validation")
			if name == "gsm8k" {
				split = "test"
			}
			wantCall := "dataset " + task.Hub.RepoID + " " + task.Hub.Revision + " " + task.Hub.Files[split][0]
			if len(f.calls) == 0 || f.calls[len(f.calls)-1] != wantCall {
				t.Errorf("fetch calls %q, want %q", f.calls, wantCall)
			}
			// ... and from a local --data file, without a fetcher.
			got, err = Load(context.Background(), name, LoadOptions{DataPath: fx[name]})
			if err != nil || !reflect.DeepEqual(got, wantItems) {
				t.Errorf("--data: err %v, items differ: %#v", err, got)
			}
		})
	}
}

func TestSplits(t *testing.T) {
	cases := map[string]string{"gsm8k": "train", "aime2024": "train", "aime2025": "train", "gpqa": "test",
		"arc_easy": "test", "arc_challenge": "test", "mbppplus": "test", "humanevalplus": "test", "medqa": "train"}
	for name, want := range cases {
		task, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		// S8: only gsm8k honours --split.
		if got := task.Split("train"); got != want {
			t.Errorf("%s.Split(train) = %q, want %q", name, got, want)
		}
	}
	if task, _ := Lookup("gsm8k"); task.Split("") != "test" {
		t.Error("gsm8k default split is not test")
	}
	if len(Tasks()) != 9 {
		t.Errorf("%d tasks, want 9", len(Tasks()))
	}
	if _, err := Lookup("winogrande"); err == nil {
		t.Error("winogrande should not be selectable (as in the reference CLI)")
	}
}

func TestReadRecordsFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rec := `{"problem": "P", "answer": 204}`
	for _, c := range []struct {
		path string
		n    int
		err  bool
	}{
		{write("a.jsonl", rec+"\n\n"+rec+"\n"), 2, false},
		{write("a.json", "["+rec+","+rec+"]"), 2, false},
		{write("b.json", `{"train": [`+rec+`]}`), 1, false},
		{write("c.json", `{"a": [], "b": []}`), 0, true},
		{write("bad.jsonl", rec+"\n{oops\n"), 0, true},
		{write("a.csv", "problem,answer\n"), 0, true},
		{write("bad.parquet", "not parquet"), 0, true},
	} {
		recs, err := ReadRecords(c.path)
		if (err != nil) != c.err || len(recs) != c.n {
			t.Errorf("%s: %d records, err %v", filepath.Base(c.path), len(recs), err)
		}
	}
	// An integer answer in JSON becomes the same gold as in parquet.
	items, err := Load(context.Background(), "aime2024", LoadOptions{DataPath: filepath.Join(dir, "a.jsonl")})
	if err != nil || items[0].Gold != "204" {
		t.Errorf("aime from jsonl: %v %+v", err, items)
	}
}

// Older writers name the inner LIST levels list/item or use a bare array.
func TestNormalizeListWrappers(t *testing.T) {
	in := map[string]any{
		"a": map[string]any{"list": []any{map[string]any{"item": "x"}, map[string]any{"item": []byte("y")}}},
		"b": map[string]any{"list": []any{map[string]any{"element": "z"}}},
		"c": []string{"p", "q"},
		"d": map[string]any{"text": "keep"},
	}
	want := map[string]any{"a": []any{"x", "y"}, "b": []any{"z"}, "c": []any{"p", "q"}, "d": map[string]any{"text": "keep"}}
	if got := normalizeValue(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v", got)
	}
}

func TestPyStr(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{json.Number("70"), "70"}, {json.Number("7.0"), "7.0"}, {int64(33), "33"}, {3.0, "3.0"},
		{0.5, "0.5"}, {true, "True"}, {nil, "None"}, {"033", "033"},
	} {
		if got := pyStr(c.in); got != c.want {
			t.Errorf("pyStr(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := pyStrip("\x1c\u00a0 x \u2003\n"); got != "x" {
		t.Errorf("pyStrip = %q", got)
	}
}
