package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// ReportRun is one run's aggregate in a report.
type ReportRun struct {
	Label                string // method · task · model
	Method, Task, Model  string
	N                    int
	Accuracy, Robust     float64
	Lo, Hi, RobLo, RobHi float64 // Wilson 95% intervals
	TokensPerProblem     float64
	SecondsPerProblem    float64
	LatentSteps          float64
	PeakKV               float64 // mean peak KV bytes per problem
	AgentKV              []AgentKV
	Source               string
}

// AgentKV is the mean working memory after one agent.
type AgentKV struct {
	Name  string
	Bytes float64
}

// wilson is the Wilson score interval for k successes in n at 95%.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 0
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	d := 1 + z*z/float64(n)
	c := (p + z*z/(2*float64(n))) / d
	h := z * math.Sqrt(p*(1-p)/float64(n)+z*z/(4*float64(n)*float64(n))) / d
	return math.Max(0, c-h), math.Min(1, c+h)
}

// LoadReportRun reads an output folder (or a results.jsonl in one): the
// results, summary.json for the run's identity, timings.jsonl if present.
func LoadReportRun(path string) (*ReportRun, error) {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	recs, err := ReadResults(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var s Summary
	if b, err := os.ReadFile(filepath.Join(dir, "summary.json")); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("report: %s/summary.json: %w", dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	r := &ReportRun{Method: s.Method, Task: s.Task, Model: s.Model, N: len(recs), Source: dir}
	if r.Method == "" {
		r.Method = filepath.Base(dir)
	}
	r.Label = fmt.Sprintf("%s · %s · %s", r.Method, r.Task, filepath.Base(r.Model))
	var k, kr int
	agentSum := map[string]float64{}
	agentN := map[string]int{}
	var order []string
	for _, rec := range recs {
		k += boolInt(rec.Correct)
		kr += boolInt(rec.CorrectRobust)
		r.TokensPerProblem += float64(rec.NewTokens)
		r.LatentSteps += float64(rec.LatentSteps)
		r.PeakKV += float64(rec.PeakKVBytes)
		for _, a := range rec.Agents {
			if agentN[a.Name] == 0 {
				order = append(order, a.Name)
			}
			agentSum[a.Name] += float64(a.KVBytes)
			agentN[a.Name]++
		}
	}
	if r.N > 0 {
		n := float64(r.N)
		r.Accuracy, r.Robust = float64(k)/n, float64(kr)/n
		r.TokensPerProblem /= n
		r.LatentSteps /= n
		r.PeakKV /= n
	}
	r.Lo, r.Hi = wilson(k, r.N)
	r.RobLo, r.RobHi = wilson(kr, r.N)
	for _, name := range order {
		r.AgentKV = append(r.AgentKV, AgentKV{name, agentSum[name] / float64(agentN[name])})
	}
	if b, err := os.ReadFile(filepath.Join(dir, "timings.jsonl")); err == nil {
		var total float64
		var n int
		for _, line := range splitLines(b) {
			var t timingRecord
			if json.Unmarshal(line, &t) == nil {
				total += t.Seconds
				n++
			}
		}
		if n > 0 {
			r.SecondsPerProblem = total / float64(n)
		}
	}
	return r, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// WriteReport renders a self-contained HTML report (no external assets)
// comparing runs: accuracy with 95% intervals (reference and robust
// scorers), tokens and time per problem, KV memory per agent, and an SVG
// chart of accuracy.
func WriteReport(w io.Writer, runs []*ReportRun) error {
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Label < runs[j].Label })
	type bar struct {
		Label              string
		Y, W, X0, X1, XAcc float64
		Acc                string
	}
	const chartW, left = 640.0, 260.0
	var bars []bar
	for i, r := range runs {
		scale := chartW - left - 20
		bars = append(bars, bar{Label: r.Label, Y: float64(i)*34 + 10, W: r.Accuracy * scale, X0: left + r.Lo*scale,
			X1: left + r.Hi*scale, XAcc: left + r.Accuracy*scale, Acc: fmt.Sprintf("%.1f%%", 100*r.Accuracy)})
	}
	return reportTmpl.Execute(w, map[string]any{"Runs": runs, "Bars": bars, "Height": float64(len(runs))*34 + 30,
		"Left": left, "Width": chartW})
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) },
	"kib": func(x float64) string { return fmt.Sprintf("%.1f KiB", x/1024) },
	"f1":  func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"f2":  func(x float64) string { return fmt.Sprintf("%.2f", x) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>latentmas report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.small{color:#666;font-size:90%}
</style></head><body>
<h1>latentmas report</h1>
<p class="small">Accuracy is the reference scorer's (comparable with the paper); robust fixes its extraction quirks. Intervals are Wilson 95%.</p>
<h2>Accuracy</h2>
<svg width="{{.Width}}" height="{{.Height}}" role="img" aria-label="accuracy per run">
{{range .Bars}}<text x="4" y="{{.Y}}" dy="16" font-size="12">{{.Label}}</text>
<rect x="{{$.Left}}" y="{{.Y}}" width="{{.W}}" height="22" fill="#4a78c2"/>
<line x1="{{.X0}}" x2="{{.X1}}" y1="{{.Y}}" y2="{{.Y}}" transform="translate(0,11)" stroke="#111" stroke-width="2"/>
<text x="{{.XAcc}}" y="{{.Y}}" dx="6" dy="16" font-size="12">{{.Acc}}</text>
{{end}}</svg>
<table>
<tr><th>run</th><th>n</th><th>accuracy</th><th>95% CI</th><th>accuracy (robust)</th><th>95% CI</th><th>new tokens / problem</th><th>latent steps / problem</th><th>seconds / problem</th><th>peak KV / problem</th></tr>
{{range .Runs}}<tr><td>{{.Label}}</td><td>{{.N}}</td><td>{{pct .Accuracy}}</td><td>{{pct .Lo}}–{{pct .Hi}}</td><td>{{pct .Robust}}</td><td>{{pct .RobLo}}–{{pct .RobHi}}</td><td>{{f1 .TokensPerProblem}}</td><td>{{f1 .LatentSteps}}</td><td>{{f2 .SecondsPerProblem}}</td><td>{{kib .PeakKV}}</td></tr>
{{end}}</table>
<h2>KV memory after each agent (mean per problem)</h2>
<table>
<tr><th>run</th><th>agent</th><th>KV memory</th></tr>
{{range $r := .Runs}}{{range .AgentKV}}<tr><td>{{$r.Label}}</td><td>{{.Name}}</td><td>{{kib .Bytes}}</td></tr>
{{end}}{{end}}</table>
<p class="small">Sources: {{range .Runs}}{{.Source}} {{end}}</p>
</body></html>
`))
