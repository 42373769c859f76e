package latent

// kNN pruning of the KV working memory (REFERENCE §2.5, the KNN fork's
// _knn_filter_kv_cache): before an agent's prompt is appended, every cached
// position is scored by the cosine similarity between the middle layer's
// key (averaged over KV heads) and the mean input embedding of the incoming
// prompt, folded to head_dim; a fraction of the positions is kept, always
// including the most recent ones, and the same positions are gathered from
// every layer.

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/latentmas/latentmas/model/qwen"
)

// KNN selection strategies (the reference's --knn_strategy).
const (
	KNNTop    = "top"    // keep the most similar earlier positions
	KNNBottom = "bottom" // keep the least similar earlier positions
	KNNRandom = "random" // keep a uniform random subset of earlier positions
)

// KNNOptions configure KNNSelect and KNNFilter.
type KNNOptions struct {
	// Percentage is the fraction of cached positions to keep
	// (--knn_percentage, reference default 0.8): k = max(⌊S·p⌋, MinKeep),
	// capped at S. Values ≥ 1 never filter.
	Percentage float64
	// MinKeep is both the lower bound on k and the number of most recent
	// positions that are always kept (--knn_min_keep, reference default 5).
	MinKeep int
	// Strategy is KNNTop (also when empty, the reference default), KNNBottom
	// or KNNRandom.
	Strategy string
	// Rand drives KNNRandom; it is required for that strategy and unused by
	// the others. Give each sequence its own seeded stream (e.g.
	// rand.New(rand.NewPCG(seed, row))) so results do not depend on batching.
	Rand *rand.Rand
	// KeepPositions implements --knn_positions keep: after pruning, tokens
	// continue from the original position count (Cache.PosShift grows by
	// the number of removed positions). The default (false) is the
	// reference's rule: new tokens are placed at the pruned cache length,
	// while the kept keys keep their original RoPE rotation (§6 P2).
	KeepPositions bool
}

// KNNResult reports what KNNFilter did.
type KNNResult struct {
	// Kept lists the kept positions of the cache as it was before the call,
	// ascending; it is 0…Before-1 when nothing was filtered.
	Kept []int
	// Filtered is false when k ≥ S, in which case the cache is untouched.
	Filtered bool
	// Similarity is the cosine similarity of every position before the call.
	Similarity []float32
	// Before and After are the cache lengths (positions) around the call.
	Before, After int
	// BytesBefore and BytesAfter are the KV memory around the call
	// (Cache.Bytes).
	BytesBefore, BytesAfter int64
}

// KNNLayer is the layer whose keys score positions: the middle one, L//2
// (0-based), as in the reference.
func KNNLayer(layers int) int { return layers / 2 }

// KNNQuery returns the kNN query vector for an incoming prompt: the mean of
// the prompt's input-embedding rows (W_in, widened to float32) over all
// positions, folded to head_dim by averaging its D/hd consecutive chunks of
// length hd (the reference's q.view(-1, hd).mean(0); its other branch,
// D == KV·hd, is the same operation). The result has length HeadDim and is
// not normalised. Pad ids, if the caller includes them, count like any
// other position, as in the reference.
func KNNQuery(m *qwen.Model, promptIDs []int) ([]float32, error) {
	cfg := m.Config
	D, hd := cfg.HiddenSize, cfg.HeadDim
	if len(promptIDs) == 0 {
		return nil, errors.New("latent: knn: empty prompt")
	}
	if hd <= 0 || D%hd != 0 {
		return nil, fmt.Errorf("latent: knn: hidden size %d is not a multiple of head_dim %d", D, hd)
	}
	sum := make([]float64, D)
	row := make([]float32, D)
	for j, id := range promptIDs {
		if id < 0 || id >= m.Embed.Rows {
			return nil, fmt.Errorf("latent: knn: prompt position %d: token id %d out of range [0, %d)", j, id, m.Embed.Rows)
		}
		m.Embed.Row(id, row)
		for i, v := range row {
			sum[i] += float64(v)
		}
	}
	// The mean is taken in float64 and rounded once; torch's float32
	// reduction differs by a few ulps, far inside the 1e-5 tolerance.
	mean := make([]float32, D)
	for i, s := range sum {
		mean[i] = float32(s / float64(len(promptIDs)))
	}
	chunks := D / hd
	q := make([]float32, hd)
	for i := range q {
		var s float32
		for c := 0; c < chunks; c++ {
			s += mean[c*hd+i]
		}
		q[i] = s / float32(chunks)
	}
	return q, nil
}

// KNNScores returns, for every position of c, the cosine similarity between
// the middle layer's key (post-norm, post-RoPE, averaged over KV heads) and
// the query built from promptIDs (KNNQuery). Both sides are normalised as
// torch's F.normalize does: x / max(‖x‖, 1e-12).
func KNNScores(m *qwen.Model, c *qwen.Cache, promptIDs []int) ([]float32, error) {
	q, err := KNNQuery(m, promptIDs)
	if err != nil {
		return nil, err
	}
	return knnScoresQuery(m.Config, c, q)
}

func knnScoresQuery(cfg *qwen.Config, c *qwen.Cache, q []float32) ([]float32, error) {
	kvh, hd := cfg.NumKVHeads, cfg.HeadDim
	if c.Layers() != cfg.NumLayers || c.KVDim() != kvh*hd {
		return nil, errors.New("latent: knn: cache was made for another model")
	}
	if len(q) != hd {
		return nil, fmt.Errorf("latent: knn: query has %d values, want head_dim %d", len(q), hd)
	}
	qn := normalize(q)
	keys, _ := c.Layer(KNNLayer(c.Layers()))
	S := c.Len()
	sim := make([]float32, S)
	avg := make([]float32, hd)
	for p := 0; p < S; p++ {
		row := keys[p*kvh*hd : (p+1)*kvh*hd]
		for i := range avg {
			var s float32
			for h := 0; h < kvh; h++ {
				s += row[h*hd+i]
			}
			avg[i] = s / float32(kvh)
		}
		var nn, dot float64
		for i, v := range avg {
			nn += float64(v) * float64(v)
			dot += float64(v) * float64(qn[i])
		}
		sim[p] = float32(dot / max(math.Sqrt(nn), 1e-12))
	}
	return sim, nil
}

// normalize returns x / max(‖x‖, 1e-12), as torch.nn.functional.normalize.
func normalize(x []float32) []float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	d := max(math.Sqrt(ss), 1e-12)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) / d)
	}
	return out
}

// KNNKeep is the number of positions a cache of S positions keeps:
// min(max(⌊S·p⌋, minKeep), S), with ⌊·⌋ on the float64 product as Python's
// int() does for non-negative values.
func KNNKeep(S int, p float64, minKeep int) int {
	return min(max(int(float64(S)*p), minKeep), S)
}

// KNNSelect chooses the positions to keep from the per-position scores of
// a cache of S = len(scores) positions, as the reference does:
// k = KNNKeep(S, Percentage, MinKeep); nothing is filtered if k ≥ S (all
// positions are returned); the last m = min(MinKeep, S) positions are always
// kept; r = k − m more are chosen among the earlier S − m positions by the
// strategy and sorted ascending, then the m recent ones follow. If r ≤ 0 the
// last k positions are kept.
//
// Ties: torch.topk does not specify which of equal scores it returns (its
// CPU kernel uses an unstable partial sort). We break ties by the lower
// position, for both top and bottom; exact ties between float32 cosine
// similarities of distinct RoPE-rotated keys do not occur in practice (the
// golden data's smallest gap at the cut is 2e-4). Where torch's order is
// defined we follow it: NaN ranks above every number, so "top" picks NaN
// scores first and "bottom" last.
func KNNSelect(scores []float32, opt KNNOptions) ([]int, error) {
	if math.IsNaN(opt.Percentage) || opt.Percentage < 0 {
		return nil, fmt.Errorf("latent: knn: percentage must be ≥ 0, got %g", opt.Percentage)
	}
	if opt.MinKeep < 0 {
		return nil, fmt.Errorf("latent: knn: min_keep must be ≥ 0, got %d", opt.MinKeep)
	}
	strategy := opt.Strategy
	if strategy == "" {
		strategy = KNNTop
	}
	switch strategy {
	case KNNTop, KNNBottom:
	case KNNRandom:
		if opt.Rand == nil {
			return nil, errors.New("latent: knn: the random strategy needs KNNOptions.Rand")
		}
	default:
		return nil, fmt.Errorf("latent: knn: unknown strategy %q (want top, bottom or random)", opt.Strategy)
	}
	S := len(scores)
	k := KNNKeep(S, opt.Percentage, opt.MinKeep)
	if k >= S {
		return knnRange(0, S), nil
	}
	m := min(opt.MinKeep, S)
	r := k - m
	if r <= 0 {
		return knnRange(S-k, S), nil
	}
	n := S - m // candidates 0..n-1; r < n since k < S
	var picked []int
	if strategy == KNNRandom {
		picked = opt.Rand.Perm(n)[:r]
	} else {
		picked = knnRange(0, n)
		// rank(a, b) < 0 when a ranks before b.
		top := strategy == KNNTop
		rank := func(a, b int) int {
			x, y := scores[a], scores[b]
			xn, yn := x != x, y != y
			if xn != yn { // exactly one NaN: first for top, last for bottom
				if xn == top {
					return -1
				}
				return 1
			}
			if !xn && x != y {
				if (x > y) == top {
					return -1
				}
				return 1
			}
			return cmp.Compare(a, b)
		}
		slices.SortFunc(picked, rank)
		picked = picked[:r]
	}
	slices.Sort(picked)
	return append(picked, knnRange(S-m, S)...), nil
}

func knnRange(lo, hi int) []int {
	out := make([]int, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// KNNFilter prunes c in place before an agent whose prompt is promptIDs is
// appended: it scores every position (KNNScores), selects the positions to
// keep (KNNSelect) and gathers them from every layer's keys and values. With
// KeepPositions, c.PosShift grows by the number of removed positions.
func KNNFilter(m *qwen.Model, c *qwen.Cache, promptIDs []int, opt KNNOptions) (KNNResult, error) {
	res := KNNResult{Before: c.Len(), BytesBefore: c.Bytes()}
	sim, err := KNNScores(m, c, promptIDs)
	if err != nil {
		return res, err
	}
	res.Similarity = sim
	kept, err := KNNSelect(sim, opt)
	if err != nil {
		return res, err
	}
	res.Kept = kept
	if len(kept) < res.Before {
		if err := c.Gather(kept); err != nil {
			return res, err
		}
		res.Filtered = true
		if opt.KeepPositions {
			c.PosShift += res.Before - len(kept)
		}
	}
	res.After, res.BytesAfter = c.Len(), c.Bytes()
	return res, nil
}
