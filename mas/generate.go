package mas

import (
	"time"

	"github.com/latentmas/latentmas/model/qwen"
)

// GenRequest is one sequence to decode: Prompt is appended to Cache, then up
// to MaxNew tokens are drawn with Sampler, stopping after any id in EOS.
type GenRequest struct {
	Cache   *qwen.Cache
	Prompt  []int
	MaxNew  int
	Sampler *Sampler
	EOS     []int
	// OnToken, if set, is called with each new id as soon as it is drawn.
	OnToken func(id int)
}

// GenResult is what one sequence produced. IDs include a final EOS id when
// one ended decoding.
type GenResult struct {
	IDs     []int
	StopEOS bool
}

// GenStats are the token counts and times of a Generate call.
type GenStats struct {
	PromptTokens, NewTokens int
	Prefill, Decode         time.Duration
}

// Generate decodes a ragged batch: all prompts are prefilled in one forward
// pass, then every unfinished sequence advances one token per pass. A
// sequence's tokens depend only on its own cache, prompt and sampler, never
// on the other sequences in the batch.
func Generate(m *qwen.Model, reqs []GenRequest) ([]GenResult, GenStats, error) {
	res := make([]GenResult, len(reqs))
	var st GenStats
	var seqs []qwen.Seq
	var live []int // request index of each seq
	for i, r := range reqs {
		if r.MaxNew <= 0 {
			continue
		}
		seqs = append(seqs, qwen.Seq{Cache: r.Cache, IDs: r.Prompt})
		live = append(live, i)
		st.PromptTokens += len(r.Prompt)
	}
	if len(seqs) == 0 {
		return res, st, nil
	}
	t0 := time.Now()
	out, err := m.Forward(seqs, qwen.Request{Logits: qwen.LogitsLast})
	if err != nil {
		return res, st, err
	}
	st.Prefill = time.Since(t0)
	t0 = time.Now()
	next := make([][1]int, len(reqs))
	for len(live) > 0 {
		seqs = seqs[:0]
		alive := live[:0]
		for row, i := range live {
			r := &reqs[i]
			id := r.Sampler.Sample(out.LogitsRow(row))
			res[i].IDs = append(res[i].IDs, id)
			st.NewTokens++
			if r.OnToken != nil {
				r.OnToken(id)
			}
			if contains(r.EOS, id) {
				res[i].StopEOS = true
				continue
			}
			if len(res[i].IDs) >= r.MaxNew {
				continue
			}
			next[i][0] = id
			seqs = append(seqs, qwen.Seq{Cache: r.Cache, IDs: next[i][:]})
			alive = append(alive, i)
		}
		live = alive
		if len(live) == 0 {
			break
		}
		if out, err = m.Forward(seqs, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
			return res, st, err
		}
	}
	st.Decode = time.Since(t0)
	return res, st, nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
