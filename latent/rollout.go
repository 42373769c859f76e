package latent

import (
	"fmt"

	"github.com/latentmas/latentmas/model/qwen"
)

// Agent is one sequence's share of a latent rollout: a prompt appended to
// its working memory (the KV cache), followed by latent steps.
type Agent struct {
	Cache *qwen.Cache
	IDs   []int // prompt token ids
	// Trace, when not nil, receives the per-step vectors.
	Trace *Trace
}

// Trace records what a rollout fed and saw, step by step.
type Trace struct {
	PromptLastHidden []float32   // h₀: post-norm hidden at the prompt's last position
	Raw              [][]float32 // h₀ … h_{L-1}: the hidden states that were realigned and fed
	PreRescale       [][]float32 // h_s·M before the norm rescale
	LatentIn         [][]float32 // the embeddings fed (after rescale and quantisation)
	HiddenAfter      [][]float32 // h₁ … h_L: post-norm hidden after each step
}

// Rollout runs the latent rollout primitive for a ragged batch of agents on
// one model: prefill every prompt on top of its cache, then Steps times feed
// realign(h) as a single input embedding per sequence. h_L is computed but
// never fed, as in the reference. Each sequence's cache grows by
// len(IDs) + Steps positions.
type Rollout struct {
	Model   *qwen.Model
	Realign *Realigner
	// Mapper, when set, replaces Realign for forming latents (e.g. the kernel
	// aligner of the hybrid method, mapping a model onto itself).
	Mapper Aligner
	Steps  int
	// Quantize, when set, is applied to each latent embedding after the norm
	// rescale, before it is fed (the quantisation "sieve").
	Quantize func([]float32)

	embeds []float32
	seqs   []qwen.Seq
}

// Run executes the rollout for the agents (all sharing Model).
func (r *Rollout) Run(agents []Agent) error {
	if len(agents) == 0 {
		return nil
	}
	D := r.Model.Config.HiddenSize
	switch {
	case r.Mapper != nil:
		if r.Mapper.InDim() != D || r.Mapper.OutDim() != D {
			return fmt.Errorf("latent: rollout mapper is %d → %d, model hidden size is %d", r.Mapper.InDim(), r.Mapper.OutDim(), D)
		}
	case r.Realign == nil || r.Realign.D != D:
		return fmt.Errorf("latent: rollout needs a realigner for hidden size %d", D)
	}
	r.seqs = r.seqs[:0]
	for _, a := range agents {
		r.seqs = append(r.seqs, qwen.Seq{Cache: a.Cache, IDs: a.IDs})
	}
	out, err := r.Model.Forward(r.seqs, qwen.Request{})
	if err != nil {
		return err
	}
	B := len(agents)
	if cap(r.embeds) < B*D {
		r.embeds = make([]float32, B*D)
	}
	r.embeds = r.embeds[:B*D]
	for i, a := range agents {
		if a.Trace != nil {
			a.Trace.PromptLastHidden = append([]float32(nil), out.LastHidden(i)...)
		}
	}
	for s := 0; s < r.Steps; s++ {
		for i, a := range agents {
			h := out.LastHidden(i)
			e := r.embeds[i*D : (i+1)*D]
			var pre []float32
			if a.Trace != nil {
				pre = make([]float32, D)
				a.Trace.Raw = append(a.Trace.Raw, append([]float32(nil), h...))
			}
			if r.Mapper != nil {
				if err := r.Mapper.Map(e, h); err != nil {
					return err
				}
				if pre != nil {
					copy(pre, e)
				}
			} else {
				r.Realign.Apply(e, h, pre)
			}
			if r.Quantize != nil {
				r.Quantize(e)
			}
			if a.Trace != nil {
				a.Trace.PreRescale = append(a.Trace.PreRescale, pre)
				a.Trace.LatentIn = append(a.Trace.LatentIn, append([]float32(nil), e...))
			}
			r.seqs[i] = qwen.Seq{Cache: a.Cache, Embeds: e}
		}
		if out, err = r.Model.Forward(r.seqs, qwen.Request{}); err != nil {
			return err
		}
		for i, a := range agents {
			if a.Trace != nil {
				a.Trace.HiddenAfter = append(a.Trace.HiddenAfter, append([]float32(nil), out.LastHidden(i)...))
			}
		}
	}
	return nil
}
