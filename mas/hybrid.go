package mas

import (
	"fmt"
	"io"
	"time"

	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tokenizer"
)

// AgentModel is one checkpoint of a heterogeneous (latent_mas_hybrid) run.
type AgentModel struct {
	Name  string // the name given on the command line; agents are compared by it
	Model *qwen.Model
	Tok   *tokenizer.Tokenizer

	self latent.Aligner // same-model latent map, built on first use
}

// Hybrid configures latent_mas_hybrid: which model runs each role and how
// latents cross from one model to another (REFERENCE.md §2.6).
type Hybrid struct {
	Agents [4]*AgentModel // planner, critic, refiner, judger
	Method string         // identical | linear | kernel
	Align  latent.AlignOptions

	cross map[[2]string]latent.Aligner
}

// NewHybrid checks that the agents' tokenizers are identical (vocabulary,
// merges and added tokens) and returns the configuration.
func NewHybrid(agents [4]*AgentModel, method string, opt latent.AlignOptions) (*Hybrid, error) {
	switch method {
	case latent.AlignIdentical, latent.AlignLinear, latent.AlignKernel:
	default:
		return nil, fmt.Errorf("--align_method must be identical, linear or kernel, got %q", method)
	}
	for i, a := range agents {
		if a == nil {
			return nil, fmt.Errorf("hybrid: no model for the %s", Roles[i])
		}
		if a.Tok.Fingerprint() != agents[0].Tok.Fingerprint() {
			return nil, fmt.Errorf("hybrid: %s and %s have different tokenizers (vocabulary, merges or added tokens); latents can only pass between models that share one", agents[0].Name, a.Name)
		}
	}
	return &Hybrid{Agents: agents, Method: method, Align: opt, cross: map[[2]string]latent.Aligner{}}, nil
}

// aligner returns the (cached) map from one agent model's hidden space to
// another's input-embedding space; from == to is same-model feeding.
func (h *Hybrid) aligner(from, to *AgentModel) (latent.Aligner, error) {
	if from == to && from.self != nil {
		return from.self, nil
	}
	key := [2]string{from.Name, to.Name}
	if a, ok := h.cross[key]; ok {
		return a, nil
	}
	opt := h.Align
	opt.Rows = to.Tok.Len() // the reference resizes embeddings to len(tokenizer)
	a, err := latent.NewAligner(h.Method, from.Model, to.Model, opt)
	if err != nil {
		return nil, fmt.Errorf("hybrid: aligning %s → %s: %w", from.Name, to.Name, err)
	}
	if from == to {
		from.self = a
	}
	h.cross[key] = a
	return a, nil
}

// mapLatents maps raw hidden states of one model into another's embedding
// space, concatenated.
func (h *Hybrid) mapLatents(from, to *AgentModel, raw [][]float32) ([]float32, error) {
	a, err := h.aligner(from, to)
	if err != nil {
		return nil, err
	}
	D := to.Model.Config.HiddenSize
	out := make([]float32, len(raw)*D)
	for i, v := range raw {
		if err := a.Map(out[i*D:(i+1)*D], v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hybrid runs latent_mas_hybrid problem by problem (each problem's result is
// independent of the others).
func (r *Runner) hybrid(probs []Problem, samplers []*Sampler) ([]Result, Stats, error) {
	if r.Hybrid == nil {
		return nil, Stats{}, fmt.Errorf("latent_mas_hybrid needs agent models")
	}
	res := make([]Result, len(probs))
	var total Stats
	for i, p := range probs {
		st, err := r.hybridOne(p, samplers[i], &res[i])
		if err != nil {
			return nil, total, err
		}
		total.Add(st)
	}
	return res, total, nil
}

func (r *Runner) hybridOne(p Problem, s *Sampler, res *Result) (Stats, error) {
	h, L := r.Hybrid, r.Opt.LatentSteps
	var st Stats
	var cur *AgentModel
	var c *qwen.Cache
	var cumPrompts string
	var cum [][]float32 // raw hidden states in cur's space, not yet handed on

	// rebuild re-encodes every earlier prompt with model to, maps the carried
	// latents into its space and prefills [prompts; latents] from an empty
	// cache (§2.6 step 3a–c).
	rebuild := func(to *AgentModel) error {
		x, err := h.mapLatents(cur, to, cum)
		if err != nil {
			return err
		}
		ids := to.Tok.Encode(cumPrompts)
		c = to.Model.NewCache(len(ids) + len(cum) + 1024)
		if len(ids)+len(x) == 0 {
			return nil
		}
		_, err = latent.HandOff(to.Model, []latent.Transfer{{Cache: c, IDs: ids, Latents: x}}, qwen.Request{})
		return err
	}
	for k, role := range Roles[:3] {
		am := h.Agents[k]
		r.stage("latent_mas_hybrid: %s thinks on %s (%d latent steps)", role.Name(), am.Name, L)
		m, err := LatentPrompt(r.Opt.Arch, role, p.Family, p.Question)
		if err != nil {
			return st, err
		}
		text, ids, err := renderWith(am.Tok, m, r.Opt.Think)
		if err != nil {
			return st, err
		}
		steps := L
		res.Agents = append(res.Agents, AgentTrace{Name: role.Name(), Role: string(role), Model: am.Name, Input: text,
			InputIDs: ids, InputTokens: len(ids), LatentSteps: &steps})
		tr := &res.Agents[len(res.Agents)-1]
		before := 0
		if c != nil {
			before = c.Len() // measured on the old cache, as the reference does (§6 H4)
		}
		switched := cur != nil && am.Name != cur.Name
		if switched {
			r.stage("latent_mas_hybrid: switching %s → %s (%d prompt chars, %d latents re-encoded)", cur.Name, am.Name, len(cumPrompts), len(cum))
			if err := rebuild(am); err != nil {
				return st, err
			}
			tr.Switched = true
		} else if c == nil {
			c = am.Model.NewCache(1024)
		}
		self, err := h.aligner(am, am)
		if err != nil {
			return st, err
		}
		trace := &latent.Trace{}
		ro := &latent.Rollout{Model: am.Model, Mapper: self, Steps: L}
		t0 := time.Now()
		if err := ro.Run([]latent.Agent{{Cache: c, IDs: ids, Trace: trace}}); err != nil {
			return st, err
		}
		st.Latent += time.Since(t0)
		st.LatentSteps += L
		st.PromptTokens += len(ids)
		if switched {
			cum = trace.Raw // earlier latents survive only in the rebuilt cache (§6 H2)
		} else {
			cum = append(cum, trace.Raw...)
		}
		cur = am
		cumPrompts += text
		res.PeakKVBytes = max(res.PeakKVBytes, c.Bytes())
		res.LatentSteps += L
		if r.Opt.LatentOnly {
			c.KeepLast(L)
		} else if r.Opt.SequentialInfoOnly {
			c.KeepLast(c.Len() - before)
		}
		tr.KVBytes, tr.KVPositions, tr.Seconds = c.Bytes(), c.Len(), time.Since(t0).Seconds()
	}
	J := h.Agents[3]
	m, err := LatentPrompt(r.Opt.Arch, Judger, p.Family, p.Question)
	if err != nil {
		return st, err
	}
	text, ids, err := renderWith(J.Tok, m, r.Opt.Think)
	if err != nil {
		return st, err
	}
	res.Agents = append(res.Agents, AgentTrace{Name: Judger.Name(), Role: string(Judger), Model: J.Name, Input: text, InputIDs: ids, InputTokens: len(ids)})
	tr := &res.Agents[len(res.Agents)-1]
	if J.Name != cur.Name {
		// The judger-side switch ignores L = 0 and latent_only (§6 H3).
		r.stage("latent_mas_hybrid: switching %s → %s for the judger", cur.Name, J.Name)
		if err := rebuild(J); err != nil {
			return st, err
		}
		tr.Switched = true
	} else if L == 0 {
		c.Reset()
	}
	t0 := time.Now()
	out, gst, err := Generate(J.Model, []GenRequest{{Cache: c, Prompt: ids, MaxNew: r.Opt.MaxNewTokens, Sampler: s, EOS: r.Opt.Sampling.EOS}})
	if err != nil {
		return st, err
	}
	st.Add(Stats{PromptTokens: gst.PromptTokens, NewTokens: gst.NewTokens, Prefill: gst.Prefill, Decode: gst.Decode})
	tr.Output = trimDecode(J.Tok, out[0].IDs)
	tr.NewTokens = len(out[0].IDs)
	tr.KVBytes, tr.KVPositions, tr.Seconds = c.Bytes(), c.Len(), time.Since(t0).Seconds()
	finish(res, max(res.PeakKVBytes, tr.KVBytes))
	return st, nil
}

// LoadedModels keeps one AgentModel per distinct name.
type LoadedModels map[string]*AgentModel

// Close releases every model.
func (l LoadedModels) Close() {
	for _, a := range l {
		a.Model.Close()
	}
}

// Describe lists the models, for logs.
func (l LoadedModels) Describe(w io.Writer) {
	for name, a := range l {
		c := a.Model.Config
		fmt.Fprintf(w, "hybrid: %s: %s, hidden %d, %d layers\n", name, c.ModelType, c.HiddenSize, c.NumLayers)
	}
}
