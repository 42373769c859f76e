// Package latent holds the LatentMAS machinery that sits between the model
// and the multi-agent methods: the ridge-regression realignment that maps a
// last hidden state back into input-embedding space, the latent rollout
// (prompt prefill, then L steps feeding realigned hidden states as input
// embeddings), and helpers over the KV working memory that agents share.
//
// latent depends on model/qwen and tensor; it knows nothing about prompts,
// roles, tokenizers or tasks.
package latent

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/latentmas/latentmas/asm"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// Realigner maps a post-norm hidden state h to a latent input embedding:
// a = h·M, e = a · TargetNorm / max(‖a‖, 1e-6). With realignment off M is
// the identity and only the norm rescale remains (as in the reference).
type Realigner struct {
	D          int
	MT         []float32 // Mᵀ [D, D] (row j is column j of M); nil means identity
	TargetNorm float32   // mean L2 norm of the W_in rows used
}

// M returns the realignment matrix in the reference's row-vector
// convention ([D, D], aligned = h·M).
func (r *Realigner) M() []float32 {
	m := make([]float32, r.D*r.D)
	for i := 0; i < r.D; i++ {
		for j := 0; j < r.D; j++ {
			if r.MT == nil {
				if i == j {
					m[i*r.D+j] = 1
				}
				continue
			}
			m[i*r.D+j] = r.MT[j*r.D+i]
		}
	}
	return m
}

// Apply writes the latent embedding for h into dst and, if pre is not nil,
// the vector before the norm rescale into pre. dst, h and pre have length D.
func (r *Realigner) Apply(dst, h, pre []float32) {
	a := dst[:r.D]
	if r.MT == nil {
		copy(a, h)
	} else {
		// a[j] = Σ_i h[i]·M[i][j] = Mᵀ[j]·h.
		asm.MatMulF32(a, r.D, h, r.D, r.MT, r.D, 1, r.D, r.D)
	}
	if pre != nil {
		copy(pre, a)
	}
	var ss float64
	for _, v := range a {
		ss += float64(v) * float64(v)
	}
	norm := float32(math.Sqrt(ss))
	scale := r.TargetNorm / max(norm, 1e-6)
	for i := range a {
		a[i] *= scale
	}
}

// RealignOptions configure BuildRealigner.
type RealignOptions struct {
	// Enabled computes the ridge map; false gives the identity (norm rescale only).
	Enabled bool
	// Lambda is the ridge λ (the reference uses 1e-5).
	Lambda float64
	// Rows limits W_in/W_out to their first Rows rows, as the reference's
	// resize of the embeddings to len(tokenizer) does (151669 for Qwen3);
	// 0 uses every row.
	Rows int
	// CacheDir, when set, stores computed matrices there keyed by a hash of
	// the weights, λ and Rows, and reuses them; corrupt or stale files are
	// recomputed.
	CacheDir string
	// Progress receives progress lines for the slow parts (nil = silent).
	Progress io.Writer
}

// RealignStats says what BuildRealigner did, for logs and tests.
type RealignStats struct {
	FromCache bool
	CacheFile string
	Elapsed   time.Duration
}

// BuildRealigner computes the realignment for a model: M = solve(W_outᵀW_out
// + λI, W_outᵀW_in) in float64 (Cholesky) from float32 Gram blocks, and the
// target norm mean_r ‖W_in[r]‖.
func BuildRealigner(m *qwen.Model, opt RealignOptions) (*Realigner, RealignStats, error) {
	start := time.Now()
	win, wout := &m.Embed, &m.LMHead
	rows := win.Rows
	if opt.Rows > 0 {
		rows = min(opt.Rows, rows)
	}
	D := win.Cols
	r := &Realigner{D: D, TargetNorm: meanRowNorm(win, rows)}
	if !opt.Enabled {
		return r, RealignStats{Elapsed: time.Since(start)}, nil
	}
	if opt.Lambda < 0 || math.IsNaN(opt.Lambda) {
		return nil, RealignStats{}, fmt.Errorf("latent: ridge λ must be ≥ 0, got %g", opt.Lambda)
	}
	M, st, err := cachedRidge(m.Pool, wout, win, rows, opt, "realign")
	if err != nil {
		return nil, st, err
	}
	r.MT = transpose(M, D, D)
	st.Elapsed = time.Since(start)
	return r, st, nil
}

// cachedRidge returns solve(AᵀA + λI, AᵀB) for the first rows rows of
// A=[V, Da] and B=[V, Db] ([Da, Db], row-major), through the disk cache when
// one is configured.
func cachedRidge(p *tensor.Pool, a, b *tensor.Mat, rows int, opt RealignOptions, kind string) ([]float32, RealignStats, error) {
	var st RealignStats
	var key [32]byte
	if opt.CacheDir != "" {
		key = ridgeKey(kind, a, b, rows, opt.Lambda)
		st.CacheFile = filepath.Join(opt.CacheDir, fmt.Sprintf("%s-%x.bin", kind, key[:12]))
		if M, err := readMatrix(st.CacheFile, key, a.Cols, b.Cols); err == nil {
			st.FromCache = true
			return M, st, nil
		} else if !errors.Is(err, os.ErrNotExist) && opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "%s: ignoring cached matrix %s (%v); recomputing\n", kind, st.CacheFile, err)
		}
	}
	M, err := Ridge(p, a, b, rows, opt.Lambda, opt.Progress)
	if err != nil {
		return nil, st, err
	}
	if st.CacheFile != "" {
		if err := writeMatrix(st.CacheFile, key, M, a.Cols, b.Cols); err != nil && opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "%s: could not cache the matrix: %v\n", kind, err)
		}
	}
	return M, st, nil
}

func meanRowNorm(w *tensor.Mat, rows int) float32 {
	row := make([]float32, w.Cols)
	var sum float64
	for i := 0; i < rows; i++ {
		w.Row(i, row)
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		sum += math.Sqrt(ss)
	}
	return float32(sum / float64(rows))
}

func transpose(m []float32, r, c int) []float32 {
	t := make([]float32, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = m[i*c+j]
		}
	}
	return t
}

// gramChunk is how many vocabulary rows are multiplied at once: products
// within a chunk accumulate in float32 (fast kernels), chunks in float64.
const gramChunk = 2048

// Ridge solves (AᵀA + λI)·X = AᵀB over the first rows rows of A [V, Da] and
// B [V, Db], returning X [Da, Db] row-major. A and B may be the same matrix.
func Ridge(p *tensor.Pool, a, b *tensor.Mat, rows int, lambda float64, progress io.Writer) ([]float32, error) {
	if a.Rows < rows || b.Rows < rows {
		return nil, fmt.Errorf("latent: ridge over %d rows, but matrices have %d and %d", rows, a.Rows, b.Rows)
	}
	da, db := a.Cols, b.Cols
	G := make([]float64, da*da)
	R := make([]float64, da*db)
	same := a == b || (a.DType == b.DType && a.Rows == b.Rows && a.Cols == b.Cols && sameData(a, b))
	at := make([]float32, da*gramChunk) // chunk of A, transposed: [da, n]
	bt := make([]float32, db*gramChunk)
	gc := make([]float32, da*da)
	rc := make([]float32, da*db)
	row := make([]float32, max(da, db))
	last := time.Now()
	for v0 := 0; v0 < rows; v0 += gramChunk {
		n := min(gramChunk, rows-v0)
		for i := 0; i < n; i++ {
			a.Row(v0+i, row)
			for j := 0; j < da; j++ {
				at[j*n+i] = row[j]
			}
			if !same {
				b.Row(v0+i, row)
				for j := 0; j < db; j++ {
					bt[j*n+i] = row[j]
				}
			}
		}
		// gc = atᵀ-rows · atᵀ-rows: y = x·wᵀ with x = w = at [da, n].
		tensor.MatMul(p, gc, at[:da*n], da, &tensor.Mat{DType: tensor.F32, Rows: da, Cols: n, F32: at[:da*n]})
		for i, v := range gc {
			G[i] += float64(v)
		}
		if !same {
			tensor.MatMul(p, rc, at[:da*n], da, &tensor.Mat{DType: tensor.F32, Rows: db, Cols: n, F32: bt[:db*n]})
			for i, v := range rc {
				R[i] += float64(v)
			}
		}
		if progress != nil && time.Since(last) > 2*time.Second {
			fmt.Fprintf(progress, "ridge: Gram matrix %d/%d rows (%.0f%%)\n", v0+n, rows, 100*float64(v0+n)/float64(rows))
			last = time.Now()
		}
	}
	if same {
		copy(R, G)
	}
	for i := 0; i < da; i++ {
		G[i*da+i] += lambda
	}
	if err := cholesky(G, da); err != nil {
		return nil, err
	}
	X := make([]float32, da*db)
	// Columns of R are independent right-hand sides.
	p.For(db, 8, func(_, lo, hi int) {
		col := make([]float64, da)
		for j := lo; j < hi; j++ {
			for i := 0; i < da; i++ {
				col[i] = R[i*db+j]
			}
			cholSolve(G, da, col)
			for i := 0; i < da; i++ {
				X[i*db+j] = float32(col[i])
			}
		}
	})
	return X, nil
}

func sameData(a, b *tensor.Mat) bool {
	if a.DType == tensor.F32 {
		return len(a.F32) > 0 && len(b.F32) > 0 && &a.F32[0] == &b.F32[0]
	}
	return len(a.U16) > 0 && len(b.U16) > 0 && &a.U16[0] == &b.U16[0]
}

// cholesky factors the symmetric positive-definite g ([n, n]) in place into
// its lower triangle L (g = L·Lᵀ).
func cholesky(g []float64, n int) error {
	for j := 0; j < n; j++ {
		d := g[j*n+j]
		for k := 0; k < j; k++ {
			d -= g[j*n+k] * g[j*n+k]
		}
		if d <= 0 || math.IsNaN(d) {
			return fmt.Errorf("latent: Gram matrix is not positive definite at column %d (use a larger ridge λ)", j)
		}
		d = math.Sqrt(d)
		g[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := g[i*n+j]
			ri, rj := g[i*n:i*n+j], g[j*n:j*n+j]
			for k := range rj {
				s -= ri[k] * rj[k]
			}
			g[i*n+j] = s / d
		}
	}
	return nil
}

// cholSolve solves L·Lᵀ·x = b in place, with L in the lower triangle of g.
func cholSolve(g []float64, n int, b []float64) {
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= g[i*n+k] * b[k]
		}
		b[i] = s / g[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= g[k*n+i] * b[k]
		}
		b[i] = s / g[i*n+i]
	}
}

// ridgeKey hashes everything a ridge matrix depends on.
func ridgeKey(kind string, a, b *tensor.Mat, rows int, lambda float64) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "latentmas-%s-v1 rows=%d lambda=%x\n", kind, rows, math.Float64bits(lambda))
	for _, m := range []*tensor.Mat{a, b} {
		fmt.Fprintf(h, "%v %d %d\n", m.DType, m.Rows, m.Cols)
		n := rows * m.Cols
		if m.DType == tensor.F32 {
			h.Write(unsafeBytesF32(m.F32[:n]))
		} else {
			h.Write(unsafeBytesU16(m.U16[:n]))
		}
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

const matrixMagic = "LMASMAT1"

// writeMatrix stores a [r, c] float32 matrix with its key and a checksum,
// atomically (temp file + rename).
func writeMatrix(path string, key [32]byte, m []float32, r, c int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	buf := make([]byte, 0, 8+32+8+4*len(m)+32)
	buf = append(buf, matrixMagic...)
	buf = append(buf, key[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(r))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(c))
	for _, v := range m {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:]...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readMatrix loads a matrix written by writeMatrix, verifying magic, key,
// shape and checksum.
func readMatrix(path string, key [32]byte, r, c int) ([]float32, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want := 8 + 32 + 8 + 4*r*c + 32
	switch {
	case len(buf) != want:
		return nil, fmt.Errorf("size %d, want %d", len(buf), want)
	case string(buf[:8]) != matrixMagic:
		return nil, errors.New("bad magic")
	case string(buf[8:40]) != string(key[:]):
		return nil, errors.New("key mismatch (stale file)")
	case binary.LittleEndian.Uint32(buf[40:]) != uint32(r) || binary.LittleEndian.Uint32(buf[44:]) != uint32(c):
		return nil, errors.New("shape mismatch")
	}
	if sum := sha256.Sum256(buf[:want-32]); string(sum[:]) != string(buf[want-32:]) {
		return nil, errors.New("checksum mismatch (corrupt file)")
	}
	m := make([]float32, r*c)
	for i := range m {
		m[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[48+4*i:]))
	}
	return m, nil
}
