package mas

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

// Methods lists the implemented methods.
var Methods = []string{"baseline", "text_mas", "latent_mas", "latent_mas_hybrid"}

// Options are a run's method settings (the reference's CLI flags).
type Options struct {
	Method             string // baseline | text_mas | latent_mas
	Arch               string // --prompt: sequential | hierarchical
	LatentSteps        int
	Think              bool // append "<think>" to every latent_mas agent's prompt
	LatentOnly         bool // keep only the previous agent's latent positions
	SequentialInfoOnly bool // keep only the previous agent's prompt + latents
	MaxNewTokens       int
	ContextLength      int // text_mas context limit in characters; < 0 unlimited
	Sampling           SamplingConfig
	Seed               uint64
	// KNN, when set, prunes the working memory before the critic, the
	// refiner and the judger (latent_mas only). Its Rand is ignored: each
	// problem gets its own stream.
	KNN *latent.KNNOptions
	// QuantBits quantises every fed latent (per-vector min–max) to this many
	// bits; 0 or 16 leaves them in float32.
	QuantBits int
}

// Validate checks the option combination.
func (o *Options) Validate() error {
	switch o.Method {
	case "baseline", "text_mas", "latent_mas", "latent_mas_hybrid":
	default:
		return fmt.Errorf("unknown method %q (known: %s)", o.Method, strings.Join(Methods, ", "))
	}
	if o.Arch != "sequential" && o.Arch != "hierarchical" {
		return fmt.Errorf("--prompt must be sequential or hierarchical, got %q", o.Arch)
	}
	if o.LatentSteps < 0 {
		return fmt.Errorf("--latent_steps must be ≥ 0, got %d", o.LatentSteps)
	}
	if o.QuantBits != 0 && (o.QuantBits < 1 || o.QuantBits > 16) {
		return fmt.Errorf("--quant_bits must be in 1…16, got %d", o.QuantBits)
	}
	if o.MaxNewTokens < 1 {
		return fmt.Errorf("--max_new_tokens must be ≥ 1, got %d", o.MaxNewTokens)
	}
	return o.Sampling.Validate()
}

// Problem is one question to solve.
type Problem struct {
	Index    int // position in the dataset: selects the item's RNG stream
	Family   Family
	Question string
}

// AgentTrace records one agent's work on one problem.
type AgentTrace struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Model       string `json:"model,omitempty"`    // hybrid: the checkpoint that ran this agent
	Switched    bool   `json:"switched,omitempty"` // hybrid: the working memory was rebuilt for this agent's model
	Input       string `json:"input"`
	InputIDs    []int  `json:"input_ids"`
	InputTokens int    `json:"input_tokens"`
	Output      string `json:"output"`
	LatentSteps *int   `json:"latent_steps,omitempty"`
	NewTokens   int    `json:"new_tokens"`
	// KVBytes is the working memory after the agent (latent_mas), and
	// KVPositions its length.
	KVBytes     int64      `json:"kv_bytes"`
	KVPositions int        `json:"kv_positions"`
	Pruned      *PruneInfo `json:"knn,omitempty"`
	Seconds     float64    `json:"seconds"`
}

// PruneInfo records a kNN pruning of the working memory before an agent.
type PruneInfo struct {
	Before      int   `json:"positions_before"`
	Kept        int   `json:"positions_kept"`
	BytesBefore int64 `json:"kv_bytes_before"`
	BytesAfter  int64 `json:"kv_bytes_after"`
}

// Result is a method's outcome for one problem.
type Result struct {
	Output      string       `json:"output"` // the final agent's decoded text
	Context     string       `json:"context,omitempty"`
	Agents      []AgentTrace `json:"agents"`
	NewTokens   int          `json:"new_tokens"`
	LatentSteps int          `json:"latent_steps"`
	PeakKVBytes int64        `json:"peak_kv_bytes"`
	// LatentBytes is what the fed latents would take on a wire at the
	// quantisation width (D·bits/8 per step).
	LatentBytes int64 `json:"latent_bytes"`
}

// Stats aggregates token counts and stage times over a batch.
type Stats struct {
	PromptTokens, NewTokens, LatentSteps int
	Prefill, Decode, Latent              time.Duration
}

// Add accumulates s2 into s.
func (s *Stats) Add(s2 Stats) {
	s.PromptTokens += s2.PromptTokens
	s.NewTokens += s2.NewTokens
	s.LatentSteps += s2.LatentSteps
	s.Prefill += s2.Prefill
	s.Decode += s2.Decode
	s.Latent += s2.Latent
}

// Runner runs one method with one model over batches of problems.
type Runner struct {
	Model   *qwen.Model
	Tok     *tokenizer.Tokenizer
	Realign *latent.Realigner // required for latent_mas
	Hybrid  *Hybrid           // required for latent_mas_hybrid
	Opt     Options
	// Stage, when set, is told what happens (for progress and demos).
	Stage func(format string, args ...any)
}

func (r *Runner) stage(format string, args ...any) {
	if r.Stage != nil {
		r.Stage(format, args...)
	}
}

// render applies the chat template (generation prompt on, thinking left
// undefined) and the optional <think> suffix, then tokenises.
func (r *Runner) render(m Messages, think bool) (string, []int, error) {
	return renderWith(r.Tok, m, think)
}

// renderWith is render with a given tokenizer.
func renderWith(tok *tokenizer.Tokenizer, m Messages, think bool) (string, []int, error) {
	text, err := tok.ApplyChatTemplate([]tokenizer.Message{{Role: "system", Content: m.System}, {Role: "user", Content: m.User}},
		tokenizer.ChatOptions{AddGenerationPrompt: true})
	if err != nil {
		return "", nil, err
	}
	if think {
		text += "<think>"
	}
	return text, tok.Encode(text), nil
}

// trimDecode decodes generated ids, skipping special tokens, stripped.
func trimDecode(tok *tokenizer.Tokenizer, ids []int) string {
	return strings.TrimSpace(tok.Decode(ids, true))
}

// Solve runs the method on a batch of problems. Results depend only on each
// problem and the seed, never on the batch it is part of.
func (r *Runner) Solve(probs []Problem) ([]Result, Stats, error) {
	if err := r.Opt.Validate(); err != nil {
		return nil, Stats{}, err
	}
	samplers := make([]*Sampler, len(probs))
	for i, p := range probs {
		samplers[i] = NewSampler(r.Opt.Sampling, r.Opt.Seed, uint64(p.Index))
	}
	switch r.Opt.Method {
	case "baseline":
		return r.baseline(probs, samplers)
	case "text_mas":
		return r.textMAS(probs, samplers)
	case "latent_mas_hybrid":
		return r.hybrid(probs, samplers)
	default:
		return r.latentMAS(probs, samplers)
	}
}

// decode generates for a batch of (trace, prompt ids, cache) and fills the
// traces' outputs.
func (r *Runner) decode(traces []*AgentTrace, ids [][]int, caches []*qwen.Cache, samplers []*Sampler) (Stats, error) {
	reqs := make([]GenRequest, len(ids))
	for i := range ids {
		reqs[i] = GenRequest{Cache: caches[i], Prompt: ids[i], MaxNew: r.Opt.MaxNewTokens, Sampler: samplers[i], EOS: r.Opt.Sampling.EOS}
	}
	t0 := time.Now()
	res, st, err := Generate(r.Model, reqs)
	if err != nil {
		return Stats{}, err
	}
	el := time.Since(t0).Seconds()
	for i, tr := range traces {
		tr.Output = trimDecode(r.Tok, res[i].IDs)
		tr.NewTokens = len(res[i].IDs)
		tr.Seconds += el
	}
	return Stats{PromptTokens: st.PromptTokens, NewTokens: st.NewTokens, Prefill: st.Prefill, Decode: st.Decode}, nil
}

func (r *Runner) baseline(probs []Problem, samplers []*Sampler) ([]Result, Stats, error) {
	res := make([]Result, len(probs))
	traces := make([]*AgentTrace, len(probs))
	ids := make([][]int, len(probs))
	caches := make([]*qwen.Cache, len(probs))
	for i, p := range probs {
		text, tok, err := r.render(BaselinePrompt(p.Family, p.Question), false)
		if err != nil {
			return nil, Stats{}, err
		}
		res[i].Agents = []AgentTrace{{Name: "SingleAgent", Role: "singleagent", Input: text, InputIDs: tok, InputTokens: len(tok)}}
		traces[i], ids[i] = &res[i].Agents[0], tok
		caches[i] = r.Model.NewCache(len(tok) + r.Opt.MaxNewTokens)
	}
	st, err := r.decode(traces, ids, caches, samplers)
	if err != nil {
		return nil, st, err
	}
	for i := range res {
		traces[i].KVBytes, traces[i].KVPositions = caches[i].Bytes(), caches[i].Len()
		finish(&res[i], caches[i].Bytes())
	}
	return res, st, nil
}

func (r *Runner) textMAS(probs []Problem, samplers []*Sampler) ([]Result, Stats, error) {
	res := make([]Result, len(probs))
	var total Stats
	for _, role := range Roles {
		r.stage("%s: %s writes text", r.Opt.Method, role.Name())
		traces := make([]*AgentTrace, len(probs))
		ids := make([][]int, len(probs))
		caches := make([]*qwen.Cache, len(probs))
		for i, p := range probs {
			ctx := cutContext(res[i].Context, r.Opt.ContextLength)
			m, err := TextPrompt(r.Opt.Arch, role, p.Family, p.Question, ctx)
			if err != nil {
				return nil, total, err
			}
			text, tok, err := r.render(m, false)
			if err != nil {
				return nil, total, err
			}
			res[i].Agents = append(res[i].Agents, AgentTrace{Name: role.Name(), Role: string(role), Input: text, InputIDs: tok, InputTokens: len(tok)})
			traces[i], ids[i] = &res[i].Agents[len(res[i].Agents)-1], tok
			caches[i] = r.Model.NewCache(len(tok) + r.Opt.MaxNewTokens)
		}
		st, err := r.decode(traces, ids, caches, samplers)
		if err != nil {
			return nil, total, err
		}
		total.Add(st)
		for i := range probs {
			tr := traces[i]
			tr.KVBytes, tr.KVPositions = caches[i].Bytes(), caches[i].Len()
			res[i].PeakKVBytes = max(res[i].PeakKVBytes, tr.KVBytes)
			if role != Judger {
				res[i].Context += textLabel(r.Opt.Arch, role) + ":\n" + tr.Output + "\n\n"
			}
		}
	}
	for i := range res {
		finish(&res[i], res[i].PeakKVBytes)
	}
	return res, total, nil
}

func (r *Runner) latentMAS(probs []Problem, samplers []*Sampler) ([]Result, Stats, error) {
	if r.Realign == nil {
		return nil, Stats{}, fmt.Errorf("latent_mas needs a realigner")
	}
	L := r.Opt.LatentSteps
	res := make([]Result, len(probs))
	caches := make([]*qwen.Cache, len(probs))
	for i := range caches {
		caches[i] = r.Model.NewCache(1024)
	}
	var total Stats
	ro := &latent.Rollout{Model: r.Model, Realign: r.Realign, Steps: L}
	if r.Opt.QuantBits != 0 {
		q, err := latent.Quantizer(r.Opt.QuantBits)
		if err != nil {
			return nil, Stats{}, err
		}
		ro.Quantize = q
	}
	for _, role := range Roles[:3] {
		r.stage("latent_mas: %s thinks (%d latent steps)", role.Name(), L)
		agents := make([]latent.Agent, len(probs))
		before := make([]int, len(probs))
		for i, p := range probs {
			m, err := LatentPrompt(r.Opt.Arch, role, p.Family, p.Question)
			if err != nil {
				return nil, total, err
			}
			text, tok, err := r.render(m, r.Opt.Think)
			if err != nil {
				return nil, total, err
			}
			steps := L
			res[i].Agents = append(res[i].Agents, AgentTrace{Name: role.Name(), Role: string(role), Input: text, InputIDs: tok, InputTokens: len(tok), LatentSteps: &steps})
			if role != Planner {
				if err := r.prune(&res[i], caches[i], tok, p.Index); err != nil {
					return nil, total, err
				}
			}
			agents[i] = latent.Agent{Cache: caches[i], IDs: tok}
			before[i] = caches[i].Len()
			total.PromptTokens += len(tok)
		}
		t0 := time.Now()
		if err := ro.Run(agents); err != nil {
			return nil, total, err
		}
		el := time.Since(t0)
		total.Latent += el
		total.LatentSteps += L * len(probs)
		for i := range probs {
			c := caches[i]
			res[i].PeakKVBytes = max(res[i].PeakKVBytes, c.Bytes())
			res[i].LatentSteps += L
			bits := r.Opt.QuantBits
			if bits == 0 {
				bits = 16 // the reference counts latents in the model dtype (bf16)
			}
			res[i].LatentBytes += int64(L) * latent.QuantBytes(r.Model.Config.HiddenSize, bits)
			if r.Opt.LatentOnly {
				c.KeepLast(L)
			} else if r.Opt.SequentialInfoOnly {
				c.KeepLast(c.Len() - before[i])
			}
			tr := &res[i].Agents[len(res[i].Agents)-1]
			tr.KVBytes, tr.KVPositions, tr.Seconds = c.Bytes(), c.Len(), el.Seconds()
		}
	}
	r.stage("latent_mas: Judger decodes (up to %d tokens)", r.Opt.MaxNewTokens)
	traces := make([]*AgentTrace, len(probs))
	ids := make([][]int, len(probs))
	for i, p := range probs {
		m, err := LatentPrompt(r.Opt.Arch, Judger, p.Family, p.Question)
		if err != nil {
			return nil, total, err
		}
		text, tok, err := r.render(m, r.Opt.Think)
		if err != nil {
			return nil, total, err
		}
		res[i].Agents = append(res[i].Agents, AgentTrace{Name: Judger.Name(), Role: string(Judger), Input: text, InputIDs: tok, InputTokens: len(tok)})
		if L == 0 { // the reference hands the judger no cache at all (§6 D1)
			caches[i].Reset()
		} else if err := r.prune(&res[i], caches[i], tok, p.Index); err != nil {
			return nil, total, err
		}
		traces[i], ids[i] = &res[i].Agents[len(res[i].Agents)-1], tok
	}
	st, err := r.decode(traces, ids, caches, samplers)
	if err != nil {
		return nil, total, err
	}
	total.Add(st)
	for i := range probs {
		tr := traces[i]
		tr.KVBytes, tr.KVPositions = caches[i].Bytes(), caches[i].Len()
		finish(&res[i], max(res[i].PeakKVBytes, tr.KVBytes))
	}
	return res, total, nil
}

// prune applies kNN pruning (if configured) to a problem's working memory
// before the agent whose prompt is ids, recording it on the agent's trace
// (the last one in res, which the caller has just appended).
func (r *Runner) prune(res *Result, c *qwen.Cache, ids []int, index int) error {
	if r.Opt.KNN == nil || c.Len() == 0 {
		return nil
	}
	opt := *r.Opt.KNN
	// A stream per (problem, pruning): reproducible whatever the batch.
	opt.Rand = rand.New(rand.NewPCG(r.Opt.Seed^0x6b6e6e, uint64(index)<<8|uint64(len(res.Agents))))
	kr, err := latent.KNNFilter(r.Model, c, ids, opt)
	if err != nil {
		return err
	}
	tr := &res.Agents[len(res.Agents)-1]
	tr.Pruned = &PruneInfo{Before: kr.Before, Kept: kr.After, BytesBefore: kr.BytesBefore, BytesAfter: kr.BytesAfter}
	res.PeakKVBytes = max(res.PeakKVBytes, kr.BytesBefore)
	return nil
}

// finish fills the result's totals from its traces.
func finish(r *Result, peak int64) {
	r.PeakKVBytes = peak
	r.NewTokens = 0
	for _, a := range r.Agents {
		r.NewTokens += a.NewTokens
	}
	if n := len(r.Agents); n > 0 {
		r.Output = r.Agents[n-1].Output
	}
}
