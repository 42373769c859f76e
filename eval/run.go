package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/latentmas/latentmas/mas"
)

// RunConfig describes one evaluation run.
type RunConfig struct {
	Task       string
	Load       LoadOptions
	MaxSamples int // -1 = all
	BatchSize  int // --generate_bs
	ShardIndex int // process items with position % ShardCount == ShardIndex
	ShardCount int
	OutputDir  string // results.jsonl, timings.jsonl, summary.json
	Resume     bool
	Model      string // for the summary
	Compute    string // for the summary: "bf16" with bfloat16 activations, else float32
	Scorer     *Scorer

	Log      io.Writer // per-problem log in the reference's format (stdout)
	Progress io.Writer // progress line with ETA (stderr); nil = none
}

// ProblemRecord is one line of results.jsonl. It holds only what is
// deterministic for a seed, so runs compare byte for byte; times go to
// timings.jsonl.
type ProblemRecord struct {
	Index          int              `json:"index"`
	ID             string           `json:"id,omitempty"`
	Question       string           `json:"question"`
	Gold           string           `json:"gold"`
	Solution       string           `json:"solution,omitempty"`
	Prediction     string           `json:"prediction"`
	RawPrediction  string           `json:"raw_prediction"`
	Correct        bool             `json:"correct"`
	PredRobust     string           `json:"prediction_robust"`
	CorrectRobust  bool             `json:"correct_robust"`
	Message        string           `json:"error_msg,omitempty"`
	Context        string           `json:"context,omitempty"`
	Agents         []mas.AgentTrace `json:"agents"`
	NewTokens      int              `json:"new_tokens"`
	LatentSteps    int              `json:"latent_steps"`
	PeakKVBytes    int64            `json:"peak_kv_bytes"`
	LatentBytes    int64            `json:"latent_bytes"`
	AgentNewTokens map[string]int   `json:"agent_new_tokens"`
}

// timingRecord is one line of timings.jsonl.
type timingRecord struct {
	Index   int                `json:"index"`
	Seconds float64            `json:"seconds"`
	Agents  map[string]float64 `json:"agent_seconds"`
}

// Summary is the run's final JSON: the reference's fields first, then ours.
type Summary struct {
	Method           string             `json:"method"`
	Model            string             `json:"model"`
	Task             string             `json:"task"`
	Split            string             `json:"split"`
	Seed             uint64             `json:"seed"`
	MaxSamples       int                `json:"max_samples"`
	Accuracy         float64            `json:"accuracy"`
	Correct          int                `json:"correct"`
	TotalTimeSec     float64            `json:"total_time_sec"`
	TimePerSampleSec float64            `json:"time_per_sample_sec"`
	AccuracyRobust   float64            `json:"accuracy_robust"`
	CorrectRobust    int                `json:"correct_robust"`
	Processed        int                `json:"processed"`
	NewTokens        int                `json:"generated_tokens"`
	AgentNewTokens   map[string]int     `json:"generated_tokens_per_agent"`
	LatentSteps      int                `json:"latent_steps"`
	PeakKVBytes      int64              `json:"peak_kv_bytes"`
	PrefillTokS      float64            `json:"prefill_tok_s"`
	DecodeTokS       float64            `json:"decode_tok_s"`
	StageSeconds     map[string]float64 `json:"stage_seconds"`
	Shard            string             `json:"shard,omitempty"`
	// Compute is "bf16" when the matrix products rounded activations to
	// bfloat16 (--compute bf16); empty for float32.
	Compute string `json:"compute,omitempty"`
}

// runIdentity is what a run's results depend on (besides the items). It is
// written to OutputDir/run.json so that --resume can refuse to append to
// results made with other settings: one results.jsonl would then mix two
// experiments.
type runIdentity struct {
	Model   string      `json:"model"`
	Task    string      `json:"task"`
	Split   string      `json:"split"`
	Compute string      `json:"compute"`
	Options mas.Options `json:"options"`
}

// checkIdentity compares the run with OutputDir/run.json when resuming and
// (re)writes the file otherwise or when it is missing.
func checkIdentity(cfg RunConfig, runner *mas.Runner) error {
	id, err := json.MarshalIndent(runIdentity{Model: cfg.Model, Task: cfg.Task, Split: cfg.Load.Split,
		Compute: cfg.Compute, Options: runner.Opt}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.OutputDir, "run.json")
	if cfg.Resume {
		old, err := os.ReadFile(path)
		switch {
		case err == nil:
			if diff := jsonDiff(old, id); diff != "" {
				return fmt.Errorf("eval: --resume: %s was written with other settings (%s); use another --output, or run without --resume to start over", cfg.OutputDir, diff)
			}
			return nil
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	return os.WriteFile(path, append(id, '\n'), 0o644)
}

// jsonDiff names the leaves that differ between two JSON documents, as
// path: old -> new, or says the old one is unreadable; "" when equal.
func jsonDiff(old, cur []byte) string {
	var a, b any
	if json.Unmarshal(old, &a) != nil {
		return "run.json is not valid JSON"
	}
	if err := json.Unmarshal(cur, &b); err != nil {
		return err.Error()
	}
	var diffs []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		mx, okx := x.(map[string]any)
		my, oky := y.(map[string]any)
		if okx && oky {
			keys := map[string]bool{}
			for k := range mx {
				keys[k] = true
			}
			for k := range my {
				keys[k] = true
			}
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				walk(strings.TrimPrefix(path+"."+k, "."), mx[k], my[k])
			}
			return
		}
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		if string(jx) != string(jy) {
			diffs = append(diffs, fmt.Sprintf("%s: %s -> %s", path, jx, jy))
		}
	}
	walk("", a, b)
	return strings.Join(diffs, ", ")
}

// Run evaluates runner on the task, appending each problem's record to
// OutputDir/results.jsonl as soon as it is scored (a killed run loses at
// most the batch in flight) and, with Resume, skipping problems already
// there. It writes summary.json at the end and returns the summary.
func Run(ctx context.Context, cfg RunConfig, runner *mas.Runner) (*Summary, error) {
	task, err := Lookup(cfg.Task)
	if err != nil {
		return nil, err
	}
	fam, err := mas.FamilyOf(task.Name)
	if err != nil {
		return nil, err
	}
	items, err := Load(ctx, cfg.Task, cfg.Load)
	if err != nil {
		return nil, err
	}
	if cfg.MaxSamples >= 0 && cfg.MaxSamples < len(items) {
		items = items[:cfg.MaxSamples]
	}
	if cfg.ShardCount > 1 {
		var mine []Item
		for pos, it := range items {
			if pos%cfg.ShardCount == cfg.ShardIndex {
				mine = append(mine, it)
			}
		}
		items = mine
	}
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 1
	}
	if cfg.Scorer == nil {
		cfg.Scorer = &Scorer{}
	}
	if err := os.MkdirAll(cfg.OutputDir, 0o755); err != nil {
		return nil, err
	}
	resultsPath := filepath.Join(cfg.OutputDir, "results.jsonl")
	timingsPath := filepath.Join(cfg.OutputDir, "timings.jsonl")
	if err := checkIdentity(cfg, runner); err != nil {
		return nil, err
	}
	done := map[int]ProblemRecord{}
	if cfg.Resume {
		recs, err := ReadResults(resultsPath)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, r := range recs {
			done[r.Index] = r
		}
	} else {
		for _, p := range []string{resultsPath, timingsPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	rf, err := openAppend(resultsPath)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	tf, err := openAppend(timingsPath)
	if err != nil {
		return nil, err
	}
	defer tf.Close()

	var todo []Item
	for _, it := range items {
		if _, ok := done[it.Index]; !ok {
			todo = append(todo, it)
		}
	}
	if cfg.Progress != nil && len(done) > 0 {
		fmt.Fprintf(cfg.Progress, "resuming: %d of %d problems already in %s\n", len(items)-len(todo), len(items), resultsPath)
	}
	start := time.Now()
	var stats mas.Stats
	prog := newProgress(cfg.Progress, len(items), len(items)-len(todo))
	n := len(items) - len(todo) // problems numbered 1-based across the run
	for b := 0; b < len(todo); b += cfg.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := todo[b:min(b+cfg.BatchSize, len(todo))]
		probs := make([]mas.Problem, len(batch))
		for i, it := range batch {
			probs[i] = mas.Problem{Index: it.Index, Family: fam, Question: it.Question}
		}
		t0 := time.Now()
		results, st, err := runner.Solve(probs)
		if err != nil {
			return nil, fmt.Errorf("problems %d–%d: %w", batch[0].Index, batch[len(batch)-1].Index, err)
		}
		stats.Add(st)
		per := time.Since(t0).Seconds() / float64(len(batch))
		for i, it := range batch {
			rec, err := score(ctx, cfg.Scorer, task, it, results[i])
			if err != nil {
				return nil, err
			}
			n++
			if cfg.Log != nil {
				logProblem(cfg.Log, n, rec)
			}
			tr := timingRecord{Index: it.Index, Seconds: per, Agents: map[string]float64{}}
			for _, a := range results[i].Agents {
				tr.Agents[a.Name] += a.Seconds
			}
			if err := writeLine(rf, rec); err != nil {
				return nil, err
			}
			if err := writeLine(tf, tr); err != nil {
				return nil, err
			}
			done[it.Index] = rec
		}
		prog.update(len(batch))
	}
	prog.finish()

	s := summarize(cfg, runner, task, items, done)
	s.TotalTimeSec = round4(time.Since(start).Seconds())
	if s.MaxSamples > 0 {
		s.TimePerSampleSec = round4(s.TotalTimeSec / float64(len(todo)+boolInt(len(todo) == 0)))
	}
	s.PrefillTokS = rate(stats.PromptTokens, stats.Prefill)
	s.DecodeTokS = rate(stats.NewTokens, stats.Decode)
	s.StageSeconds = map[string]float64{
		"prefill": round4(stats.Prefill.Seconds()), "decode": round4(stats.Decode.Seconds()), "latent": round4(stats.Latent.Seconds()),
	}
	if cfg.ShardCount > 1 {
		s.Shard = fmt.Sprintf("%d/%d", cfg.ShardIndex, cfg.ShardCount)
	}
	if err := WriteSummary(filepath.Join(cfg.OutputDir, "summary.json"), s); err != nil {
		return nil, err
	}
	return s, nil
}

// score turns a method result into a results.jsonl record.
func score(ctx context.Context, sc *Scorer, task *Task, it Item, r mas.Result) (ProblemRecord, error) {
	ref, robust, err := sc.Score(ctx, task, it, r.Output)
	if err != nil {
		return ProblemRecord{}, fmt.Errorf("scoring problem %d: %w", it.Index, err)
	}
	rec := ProblemRecord{
		Index: it.Index, ID: it.ID, Question: it.Question, Gold: it.Gold, Solution: it.Solution,
		Prediction: ref.Pred, RawPrediction: r.Output, Correct: ref.Correct,
		PredRobust: robust.Pred, CorrectRobust: robust.Correct, Message: ref.Message,
		Context: r.Context, NewTokens: r.NewTokens, LatentSteps: r.LatentSteps, PeakKVBytes: r.PeakKVBytes,
		LatentBytes: r.LatentBytes, AgentNewTokens: map[string]int{},
	}
	for _, a := range r.Agents {
		a.Seconds = 0 // times live in timings.jsonl
		rec.Agents = append(rec.Agents, a)
		rec.AgentNewTokens[a.Name] += a.NewTokens
	}
	return rec, nil
}

func summarize(cfg RunConfig, runner *mas.Runner, task *Task, items []Item, done map[int]ProblemRecord) *Summary {
	o := runner.Opt
	s := &Summary{Method: o.Method, Model: cfg.Model, Task: task.Name, Split: task.Split(cfg.Load.Split), Seed: o.Seed,
		MaxSamples: len(items), AgentNewTokens: map[string]int{}, Compute: cfg.Compute}
	recs := make([]ProblemRecord, 0, len(items))
	for _, it := range items {
		if r, ok := done[it.Index]; ok {
			recs = append(recs, r)
		}
	}
	fill(s, recs)
	return s
}

// fill computes the result-derived fields of a summary.
func fill(s *Summary, recs []ProblemRecord) {
	s.Processed = len(recs)
	if s.AgentNewTokens == nil {
		s.AgentNewTokens = map[string]int{}
	}
	for _, r := range recs {
		s.Correct += boolInt(r.Correct)
		s.CorrectRobust += boolInt(r.CorrectRobust)
		s.NewTokens += r.NewTokens
		s.LatentSteps += r.LatentSteps
		s.PeakKVBytes = max(s.PeakKVBytes, r.PeakKVBytes)
		for k, v := range r.AgentNewTokens {
			s.AgentNewTokens[k] += v
		}
	}
	if s.Processed > 0 {
		s.Accuracy = float64(s.Correct) / float64(s.Processed)
		s.AccuracyRobust = float64(s.CorrectRobust) / float64(s.Processed)
	}
}

// Merge combines the results of several shard output directories into one
// summary written to outDir (which also receives the merged results.jsonl,
// ordered by problem index).
func Merge(dirs []string, outDir string) (*Summary, error) {
	var s *Summary
	byIndex := map[int]ProblemRecord{}
	for _, d := range dirs {
		var part Summary
		b, err := os.ReadFile(filepath.Join(d, "summary.json"))
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		if err := json.Unmarshal(b, &part); err != nil {
			return nil, fmt.Errorf("merge: %s/summary.json: %w", d, err)
		}
		if s == nil {
			c := part
			s = &c
			s.Shard, s.MaxSamples, s.TotalTimeSec = "", 0, 0
		} else if part.Method != s.Method || part.Task != s.Task || part.Model != s.Model || part.Seed != s.Seed || part.Compute != s.Compute {
			return nil, fmt.Errorf("merge: %s is a different run (%s/%s/%s seed %d compute %q)", d, part.Method, part.Task, part.Model, part.Seed, part.Compute)
		}
		s.MaxSamples += part.MaxSamples
		s.TotalTimeSec += part.TotalTimeSec
		recs, err := ReadResults(filepath.Join(d, "results.jsonl"))
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		for _, r := range recs {
			if _, dup := byIndex[r.Index]; dup {
				return nil, fmt.Errorf("merge: problem %d appears in more than one shard", r.Index)
			}
			byIndex[r.Index] = r
		}
	}
	if s == nil {
		return nil, errors.New("merge: no shard directories given")
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	recs := make([]ProblemRecord, len(idx))
	for i, k := range idx {
		recs[i] = byIndex[k]
	}
	*s = Summary{Method: s.Method, Model: s.Model, Task: s.Task, Split: s.Split, Seed: s.Seed, MaxSamples: s.MaxSamples,
		TotalTimeSec: round4(s.TotalTimeSec), Compute: s.Compute}
	fill(s, recs)
	if s.Processed > 0 {
		s.TimePerSampleSec = round4(s.TotalTimeSec / float64(s.Processed))
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(outDir, "results.jsonl"))
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := writeLine(f, r); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return s, WriteSummary(filepath.Join(outDir, "summary.json"), s)
}

// ReadResults reads results.jsonl; a torn last line (a run killed while
// writing) is ignored, any other bad line is an error naming it.
func ReadResults(path string) ([]ProblemRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ProblemRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	var pending error
	for sc.Scan() {
		line++
		if pending != nil {
			return nil, pending
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r ProblemRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			pending = fmt.Errorf("%s:%d: %w", path, line, err)
			continue
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// WriteSummary writes the summary as indented JSON.
func WriteSummary(path string, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// logProblem prints a problem in the reference's per-problem format.
func logProblem(w io.Writer, n int, r ProblemRecord) {
	fmt.Fprintf(w, "\n==================== Problem #%d ====================\n", n)
	fmt.Fprintf(w, "Question:\n%s\n", r.Question)
	for _, a := range r.Agents {
		fmt.Fprintf(w, "----- Agent: %s (%s) -----\n", a.Name, a.Role)
		fmt.Fprintf(w, "[To Tokenize]\n%s\n", strings.TrimRight(a.Input, " \t\r\n"))
		if a.LatentSteps != nil {
			fmt.Fprintf(w, "[Latent Steps]\n%d\n", *a.LatentSteps)
		}
		fmt.Fprintf(w, "[Output]\n%s\n", a.Output)
		fmt.Fprintln(w, strings.Repeat("-", 46))
	}
	fmt.Fprintf(w, "Result: Pred=%s | Gold=%s | OK=%v\n", r.Prediction, r.Gold, r.Correct)
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Drop a torn last line left by a killed run, so appends start clean.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b, err := os.ReadFile(path)
		if err == nil && b[len(b)-1] != '\n' {
			i := strings.LastIndexByte(string(b), '\n')
			if err := os.Truncate(path, int64(i+1)); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return f, nil
}

// writeLine appends one JSON line and syncs it to disk.
func writeLine(f *os.File, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round4(float64(n) / d.Seconds())
}

func round4(x float64) float64 { return float64(int64(x*1e4+0.5)) / 1e4 }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// progress prints "n/N problems, ETA" lines: redrawn in place on a
// terminal, every 10% otherwise.
type progress struct {
	w          io.Writer
	total      int
	done, base int
	start      time.Time
	tty        bool
	lastPct    int
}

func newProgress(w io.Writer, total, already int) *progress {
	p := &progress{w: w, total: total, done: already, base: already, start: time.Now(), lastPct: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(n int) {
	if p.w == nil {
		return
	}
	p.done += n
	el := time.Since(p.start)
	var eta time.Duration
	if k := p.done - p.base; k > 0 {
		eta = time.Duration(float64(el) / float64(k) * float64(p.total-p.done))
	}
	pct := 100 * p.done / max(p.total, 1)
	line := fmt.Sprintf("%d/%d problems (%d%%), elapsed %s, ETA %s", p.done, p.total, pct, el.Round(time.Second), eta.Round(time.Second))
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else if pct/10 != p.lastPct/10 || p.done == p.total {
		fmt.Fprintln(p.w, line)
	}
	p.lastPct = pct
}

func (p *progress) finish() {
	if p.w != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}
