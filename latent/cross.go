package latent

// Cross-model alignment (REFERENCE §2.6.1, HYB-MX's align_method): maps a
// source model's post-norm hidden state into a target model's input-
// embedding space, and the hand-off that rebuilds the target model's
// working memory at a model switch (§2.6 step 3a–c).

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/latentmas/latentmas/asm"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// Alignment methods (HYB-MX's --align_method).
const (
	// AlignIdentical rescales h to the target's mean embedding norm; it
	// needs equal hidden sizes.
	AlignIdentical = "identical"
	// AlignLinear is the ridge map W = solve(W_outᵀW_out + λI, W_outᵀW_in)
	// followed by the norm rescale.
	AlignLinear = "linear"
	// AlignKernel is the random-feature approximation of the soft-token map
	// softmax(W_out·h/τ)·W_in, without rescale.
	AlignKernel = "kernel"
)

// Aligner maps a source model's hidden state (length InDim) to an input
// embedding of the target model (length OutDim). Map must not be called
// concurrently with itself on the same Aligner.
type Aligner interface {
	// Map writes the aligned vector for h into dst.
	Map(dst, h []float32) error
	// InDim is the source hidden size.
	InDim() int
	// OutDim is the target hidden size.
	OutDim() int
}

// AlignOptions configure NewAligner. Zero values select the reference
// defaults (DefaultAlignOptions).
type AlignOptions struct {
	// Ridge is the ridge λ of the linear method (--align_ridge; 0 means 1e-5).
	Ridge float64
	// Rows limits the vocabulary rows used (as the reference's resize of the
	// embeddings to len(tokenizer) does); 0 uses min(V_src, V_dst) rows.
	Rows int
	// Features is the number of random features of the kernel method
	// (--kernel_features; 0 means 1024).
	Features int
	// Temperature τ of the kernel method (--kernel_temperature; 0 means 1).
	Temperature float64
	// Seed seeds the kernel method's random directions (--kernel_seed).
	Seed uint64
	// ChunkSize is how many vocabulary rows the kernel method accumulates at
	// once (--kernel_chunk_size; 0 means 4096).
	ChunkSize int
	// CacheDir, when set, stores the linear and kernel matrices there keyed
	// by a hash of everything they depend on, and reuses them.
	CacheDir string
	// Progress receives progress lines and warnings (nil = silent).
	Progress io.Writer
}

// DefaultAlignOptions returns the reference's defaults.
func DefaultAlignOptions() AlignOptions {
	return AlignOptions{Ridge: 1e-5, Features: 1024, Temperature: 1, ChunkSize: 4096}
}

func (o AlignOptions) withDefaults() AlignOptions {
	d := DefaultAlignOptions()
	if o.Ridge == 0 {
		o.Ridge = d.Ridge
	}
	if o.Features == 0 {
		o.Features = d.Features
	}
	if o.Temperature == 0 {
		o.Temperature = d.Temperature
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = d.ChunkSize
	}
	return o
}

// NewAligner builds the alignment from src's hidden space to dst's input
// embeddings by method (AlignIdentical, AlignLinear or AlignKernel). src and
// dst may be the same model (same-model feeding). It runs on src's worker
// pool, so src must not run a forward pass meanwhile.
//
// The vocabulary rows used are the first min(V_src, V_dst) (capped by
// opt.Rows); when the sizes differ a warning goes to opt.Progress (HYB-NH
// cuts both matrices the same way; HYB-MX refuses, and checking that the two
// tokenizers agree is the caller's job).
func NewAligner(method string, src, dst *qwen.Model, opt AlignOptions) (Aligner, error) {
	opt = opt.withDefaults()
	win, wout := &dst.Embed, &src.LMHead
	rows := min(win.Rows, wout.Rows)
	if win.Rows != wout.Rows && opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "align: vocabulary sizes differ (%d vs %d); using the first %d rows\n", wout.Rows, win.Rows, rows)
	}
	if opt.Rows > 0 {
		rows = min(rows, opt.Rows)
	}
	if opt.Rows < 0 {
		return nil, fmt.Errorf("latent: align: rows must be ≥ 0, got %d", opt.Rows)
	}
	din, dout := wout.Cols, win.Cols
	switch method {
	case AlignIdentical:
		if din != dout {
			return nil, fmt.Errorf("latent: align: identical needs equal hidden sizes, got %d and %d", din, dout)
		}
		return &LinearAligner{In: din, Out: dout, TargetNorm: meanRowNorm(win, rows)}, nil
	case AlignLinear:
		if opt.Ridge < 0 || math.IsNaN(opt.Ridge) {
			return nil, fmt.Errorf("latent: align: ridge λ must be ≥ 0, got %g", opt.Ridge)
		}
		start := time.Now()
		kind := "cross"
		if src == dst {
			kind = "realign" // the same matrix as BuildRealigner: share its cache file
		}
		W, st, err := cachedRidge(src.Pool, wout, win, rows,
			RealignOptions{Lambda: opt.Ridge, CacheDir: opt.CacheDir, Progress: opt.Progress}, kind)
		if err != nil {
			return nil, err
		}
		st.Elapsed = time.Since(start)
		return &LinearAligner{In: din, Out: dout, WT: transpose(W, din, dout), TargetNorm: meanRowNorm(win, rows), Stats: st}, nil
	case AlignKernel:
		return newKernelAligner(src.Pool, wout, win, rows, opt)
	}
	return nil, fmt.Errorf("latent: align: unknown method %q (want identical, linear or kernel)", method)
}

// LinearAligner is the identical and linear alignment: a = h·W (W = I for
// identical), e = a · TargetNorm / max(‖a‖, 1e-6). The 1e-6 guard is
// HYB-MX's and the golden data's; HYB-NH adds 1e-8 to the norm instead
// (§6 H6), a difference far below float32 resolution for real hiddens.
type LinearAligner struct {
	In, Out    int
	WT         []float32 // Wᵀ [Out, In]; nil means the identity (In == Out)
	TargetNorm float32   // mean L2 norm of the target's W_in rows used
	Stats      RealignStats
}

// InDim implements Aligner.
func (a *LinearAligner) InDim() int { return a.In }

// OutDim implements Aligner.
func (a *LinearAligner) OutDim() int { return a.Out }

// Map implements Aligner.
func (a *LinearAligner) Map(dst, h []float32) error { return a.MapPre(dst, h, nil) }

// MapPre is Map that also writes h·W (before the rescale) into pre, unless
// pre is nil.
func (a *LinearAligner) MapPre(dst, h, pre []float32) error {
	if len(h) != a.In || len(dst) != a.Out || (pre != nil && len(pre) != a.Out) {
		return fmt.Errorf("latent: align: want %d → %d values, got %d → %d", a.In, a.Out, len(h), len(dst))
	}
	if a.WT == nil {
		copy(dst, h)
	} else {
		asm.MatMulF32(dst, a.Out, h, a.In, a.WT, a.In, 1, a.Out, a.In)
	}
	if pre != nil {
		copy(pre, dst)
	}
	var ss float64
	for _, v := range dst {
		ss += float64(v) * float64(v)
	}
	scale := a.TargetNorm / max(float32(math.Sqrt(ss)), 1e-6)
	for i := range dst {
		dst[i] *= scale
	}
	return nil
}

// W returns the map in the reference's row-vector convention, [In, Out]
// (mapped = h·W); the identity for AlignIdentical.
func (a *LinearAligner) W() []float32 {
	if a.WT == nil {
		w := make([]float32, a.In*a.Out)
		for i := 0; i < a.In; i++ {
			w[i*a.Out+i] = 1
		}
		return w
	}
	return transpose(a.WT, a.Out, a.In)
}

// Realigner returns the same map as a Realigner, for Rollout's same-model
// feeding; it needs In == Out.
func (a *LinearAligner) Realigner() (*Realigner, error) {
	if a.In != a.Out {
		return nil, fmt.Errorf("latent: align: a %d → %d map is not a realignment", a.In, a.Out)
	}
	return &Realigner{D: a.In, MT: a.WT, TargetNorm: a.TargetNorm}, nil
}

// KernelAligner is the kernel (random orthogonal features) alignment: with
// positive features φ(x)_r = exp(ω_r·x − ‖x‖²/2), keys k_i = φ(W_out[i]),
// S = Σ_i W_in[i]ᵀk_i and z = Σ_i k_i accumulated over the vocabulary, a
// hidden h maps to e = (u·Sᵀ)/(u·z) with u = φ(h/τ): an unbiased-feature
// estimate of softmax(W_out·h/τ)·W_in. There is no norm rescale.
//
// The directions Ω come from a Go PCG stream seeded with Seed; torch's
// Gaussian stream cannot be reproduced, so the features (and outputs) differ
// from the reference's for the same seed, while following the same
// construction.
//
// Scale: constant factors cancel in the ratio, so none is kept faithfully.
// The keys' log-features get one global shift (their running maximum, as in
// an online log-sum-exp), so they stay representable where the reference's
// unstabilised float32 exp overflows or underflows for every row; S and z
// are then divided by max_r z_r. The online map subtracts the largest
// log-feature of u before exp, as the reference does, so u's largest entry
// is 1. It fails when d = u·z is not finite or ≤ float32 machine epsilon:
// the reference's check, but measured in this scale-free normalisation
// (d relative to the best-covered feature) instead of the reference's
// absolute one, which depends on its unshifted float32 magnitudes.
type KernelAligner struct {
	In, Out     int
	Features    int
	Temperature float32
	Omega       []float32 // Ω [Features, In]
	S           []float32 // [Out, Features]
	Z           []float32 // [Features], scaled so that max Z = 1
	Stats       RealignStats

	l, u, x []float32 // Map scratch
}

// InDim implements Aligner.
func (a *KernelAligner) InDim() int { return a.In }

// OutDim implements Aligner.
func (a *KernelAligner) OutDim() int { return a.Out }

// float32Eps is torch.finfo(torch.float32).eps.
const float32Eps = 1.1920929e-07

// Map implements Aligner.
func (a *KernelAligner) Map(dst, h []float32) error {
	if len(h) != a.In || len(dst) != a.Out {
		return fmt.Errorf("latent: align: want %d → %d values, got %d → %d", a.In, a.Out, len(h), len(dst))
	}
	m := a.Features
	if len(a.l) != m || len(a.x) != a.In {
		a.l, a.u, a.x = make([]float32, m), make([]float32, m), make([]float32, a.In)
	}
	x := a.x
	for i, v := range h {
		x[i] = v / a.Temperature
	}
	// ℓ_r = ω_r·x − ‖x‖²/2; subtracting max_r ℓ_r before exp (the
	// reference's stabilisation) also removes the ‖x‖² term.
	asm.MatMulF32(a.l, m, x, a.In, a.Omega, a.In, 1, m, a.In)
	best := math.Inf(-1)
	for _, v := range a.l {
		best = max(best, float64(v))
	}
	var d float64
	for r, v := range a.l {
		u := math.Exp(float64(v) - best)
		a.u[r] = float32(u)
		d += u * float64(a.Z[r])
	}
	if math.IsNaN(d) || math.IsInf(d, 0) || d <= float32Eps {
		return fmt.Errorf("latent: align: kernel normaliser u·z = %g is not finite or ≤ %g (is the hidden state finite? try a larger temperature)", d, float32Eps)
	}
	asm.MatMulF32(dst, a.Out, a.u, m, a.S, m, 1, a.Out, m)
	inv := float32(1 / d)
	for i := range dst {
		dst[i] *= inv
	}
	return nil
}

// orfDirections draws m orthogonal random feature directions in dimension d
// ([m, d]): blocks of d rows from Q of the QR decomposition of a d×d
// standard Gaussian matrix G, with Q's columns made to match a positive
// diag(R), row r of Qᵀ scaled by the norm of column r of G; blocks are
// stacked until there are m rows. The thin QR is modified Gram–Schmidt with
// reorthogonalisation in float64, which yields diag(R) > 0 directly (the
// reference's sign fix), and only the columns needed are factored.
func orfDirections(d, m int, seed uint64) ([]float32, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6f7266)) // "orf"
	omega := make([]float32, 0, m*d)
	g := make([]float64, d*d)
	for len(omega) < m*d {
		for i := range g { // row-major G, drawn in full per block
			g[i] = rng.NormFloat64()
		}
		k := min(d, m-len(omega)/d)
		q := make([]float64, k*d) // columns of Q, each contiguous
		for j := 0; j < k; j++ {
			v := q[j*d : (j+1)*d]
			var cn float64
			for i := 0; i < d; i++ {
				v[i] = g[i*d+j]
				cn += v[i] * v[i]
			}
			for pass := 0; pass < 2; pass++ {
				for p := 0; p < j; p++ {
					qp := q[p*d : (p+1)*d]
					var r float64
					for i, x := range qp {
						r += x * v[i]
					}
					for i, x := range qp {
						v[i] -= r * x
					}
				}
			}
			var nn float64
			for _, x := range v {
				nn += x * x
			}
			if nn == 0 || math.IsNaN(nn) {
				return nil, errors.New("latent: align: degenerate random matrix in the ORF construction")
			}
			inv, cnorm := 1/math.Sqrt(nn), math.Sqrt(cn)
			for i := range v {
				v[i] *= inv // column j of Q
				omega = append(omega, float32(v[i]*cnorm))
			}
		}
	}
	return omega, nil
}

func newKernelAligner(p *tensor.Pool, wout, win *tensor.Mat, rows int, opt AlignOptions) (*KernelAligner, error) {
	start := time.Now()
	m, chunk := opt.Features, opt.ChunkSize
	if m < 1 || chunk < 1 {
		return nil, fmt.Errorf("latent: align: kernel features and chunk size must be ≥ 1, got %d and %d", m, chunk)
	}
	if !(opt.Temperature > 0) || math.IsInf(opt.Temperature, 0) {
		return nil, fmt.Errorf("latent: align: kernel temperature must be > 0, got %g", opt.Temperature)
	}
	da, db := wout.Cols, win.Cols
	a := &KernelAligner{In: da, Out: db, Features: m, Temperature: float32(opt.Temperature)}
	var key [32]byte
	if opt.CacheDir != "" {
		key = kernelKey(wout, win, rows, m, opt.Seed, chunk)
		a.Stats.CacheFile = filepath.Join(opt.CacheDir, fmt.Sprintf("kernel-%x.bin", key[:12]))
		if buf, err := readMatrix(a.Stats.CacheFile, key, m, da+db+1); err == nil {
			a.Omega, a.S, a.Z = make([]float32, m*da), make([]float32, db*m), make([]float32, m)
			for r := 0; r < m; r++ {
				row := buf[r*(da+db+1) : (r+1)*(da+db+1)]
				copy(a.Omega[r*da:], row[:da])
				for j := 0; j < db; j++ {
					a.S[j*m+r] = row[da+j]
				}
				a.Z[r] = row[da+db]
			}
			a.Stats.FromCache = true
			a.Stats.Elapsed = time.Since(start)
			return a, nil
		} else if !errors.Is(err, os.ErrNotExist) && opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "kernel: ignoring cached features %s (%v); recomputing\n", a.Stats.CacheFile, err)
		}
	}
	omega, err := orfDirections(da, m, opt.Seed)
	if err != nil {
		return nil, err
	}
	a.Omega = omega
	om := &tensor.Mat{DType: tensor.F32, Rows: m, Cols: da, F32: omega}

	S := make([]float64, db*m)
	z := make([]float64, m)
	shift := math.Inf(-1) // global shift of the keys' log-features so far
	x := make([]float32, chunk*da)
	lg := make([]float32, chunk*m)  // log-features, then keys, [n, m]
	kt := make([]float32, m*chunk)  // keys transposed [m, n]
	wt := make([]float32, db*chunk) // W_in chunk transposed [db, n]
	sc := make([]float32, db*m)
	row := make([]float32, db)
	last := time.Now()
	for v0 := 0; v0 < rows; v0 += chunk {
		n := min(chunk, rows-v0)
		for i := 0; i < n; i++ {
			wout.Row(v0+i, x[i*da:(i+1)*da])
		}
		tensor.MatMul(p, lg[:n*m], x[:n*da], n, om)
		cmax := math.Inf(-1)
		for i := 0; i < n; i++ {
			var ss float64
			for _, v := range x[i*da : (i+1)*da] {
				ss += float64(v) * float64(v)
			}
			for r := 0; r < m; r++ {
				l := float64(lg[i*m+r]) - ss/2
				lg[i*m+r] = float32(l)
				cmax = max(cmax, l)
			}
		}
		if math.IsNaN(cmax) || math.IsInf(cmax, 0) {
			return nil, fmt.Errorf("latent: align: kernel features of W_out rows %d..%d are not finite", v0, v0+n)
		}
		if cmax > shift {
			if !math.IsInf(shift, -1) {
				f := math.Exp(shift - cmax)
				for i := range S {
					S[i] *= f
				}
				for i := range z {
					z[i] *= f
				}
			}
			shift = cmax
		}
		for i := 0; i < n; i++ {
			for r := 0; r < m; r++ {
				k := float32(math.Exp(float64(lg[i*m+r]) - shift))
				kt[r*n+i] = k
				z[r] += float64(k)
			}
			win.Row(v0+i, row)
			for j, v := range row {
				wt[j*n+i] = v
			}
		}
		// sc[j][r] = Σ_i W_in[i][j]·k_i[r]: y = x·wᵀ with x = wt [db, n], w = kt [m, n].
		tensor.MatMul(p, sc, wt[:db*n], db, &tensor.Mat{DType: tensor.F32, Rows: m, Cols: n, F32: kt[:m*n]})
		for i, v := range sc {
			S[i] += float64(v)
		}
		if opt.Progress != nil && time.Since(last) > 2*time.Second {
			fmt.Fprintf(opt.Progress, "kernel: features %d/%d rows (%.0f%%)\n", v0+n, rows, 100*float64(v0+n)/float64(rows))
			last = time.Now()
		}
	}
	// Scale S and z so that max_r z_r = 1: the online check u·z ≤ ε is then
	// relative to the best-covered feature, independent of the shift.
	zmax := 0.0
	for _, v := range z {
		zmax = max(zmax, v)
	}
	if !(zmax > 0) || math.IsInf(zmax, 0) {
		return nil, fmt.Errorf("latent: align: kernel normalisers are degenerate (max %g)", zmax)
	}
	a.S, a.Z = make([]float32, db*m), make([]float32, m)
	for i, v := range S {
		a.S[i] = float32(v / zmax)
	}
	for i, v := range z {
		a.Z[i] = float32(v / zmax)
	}
	if a.Stats.CacheFile != "" {
		buf := make([]float32, m*(da+db+1))
		for r := 0; r < m; r++ {
			out := buf[r*(da+db+1) : (r+1)*(da+db+1)]
			copy(out, a.Omega[r*da:(r+1)*da])
			for j := 0; j < db; j++ {
				out[da+j] = a.S[j*m+r]
			}
			out[da+db] = a.Z[r]
		}
		if err := writeMatrix(a.Stats.CacheFile, key, buf, m, da+db+1); err != nil && opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "kernel: could not cache the features: %v\n", err)
		}
	}
	a.Stats.Elapsed = time.Since(start)
	return a, nil
}

// kernelKey hashes everything the kernel aligner's offline state depends on.
func kernelKey(wout, win *tensor.Mat, rows, m int, seed uint64, chunk int) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "latentmas-kernel-v1 rows=%d features=%d seed=%d chunk=%d orf=pcg-mgs2\n", rows, m, seed, chunk)
	for _, w := range []*tensor.Mat{wout, win} {
		fmt.Fprintf(h, "%v %d %d\n", w.DType, w.Rows, w.Cols)
		n := rows * w.Cols
		if w.DType == tensor.F32 {
			h.Write(unsafeBytesF32(w.F32[:n]))
		} else {
			h.Write(unsafeBytesU16(w.U16[:n]))
		}
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// Transfer is one sequence of a model-switch hand-off: the target model's
// working memory is rebuilt from the accumulated prompts, re-encoded with
// the target's tokenizer (IDs), followed by all transferred latents
// (Latents, [n, D] rows already mapped into the target's embedding space),
// prompts first and latents after, as the reference does (§6 H1).
type Transfer struct {
	Cache   *qwen.Cache
	IDs     []int
	Latents []float32
}

// HandOff resets every Transfer's cache and forwards [embed(IDs); Latents]
// through m as one embedding sequence per cache (a ragged batch: no
// padding), so each cache ends with len(IDs) + len(Latents)/D positions
// starting at position 0. It returns the forward output (req selects
// logits, e.g. the last position's).
func HandOff(m *qwen.Model, seqs []Transfer, req qwen.Request) (*qwen.Output, error) {
	D := m.Config.HiddenSize
	batch := make([]qwen.Seq, len(seqs))
	for i, s := range seqs {
		if s.Cache == nil {
			return nil, fmt.Errorf("latent: hand-off: sequence %d has no cache", i)
		}
		if len(s.Latents)%D != 0 {
			return nil, fmt.Errorf("latent: hand-off: sequence %d: %d latent values is not a multiple of hidden size %d", i, len(s.Latents), D)
		}
		n := len(s.IDs) + len(s.Latents)/D
		if n == 0 {
			return nil, fmt.Errorf("latent: hand-off: sequence %d has neither prompt ids nor latents", i)
		}
		e := make([]float32, n*D)
		for j, id := range s.IDs {
			if id < 0 || id >= m.Embed.Rows {
				return nil, fmt.Errorf("latent: hand-off: sequence %d, position %d: token id %d out of range [0, %d)", i, j, id, m.Embed.Rows)
			}
			m.Embed.Row(id, e[j*D:(j+1)*D])
		}
		copy(e[len(s.IDs)*D:], s.Latents)
		batch[i] = qwen.Seq{Cache: s.Cache, Embeds: e}
	}
	for _, s := range seqs {
		s.Cache.Reset()
	}
	return m.Forward(batch, req)
}
