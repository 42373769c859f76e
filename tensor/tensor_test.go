package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func randMat(r *rand.Rand, dt DType, rows, cols int) *Mat {
	m := &Mat{DType: dt, Rows: rows, Cols: cols}
	v := randVec(r, rows*cols)
	switch dt {
	case F32:
		m.F32 = v
	case BF16:
		m.U16 = make([]uint16, len(v))
		for i, f := range v {
			m.U16[i] = uint16(math.Float32bits(f) >> 16)
		}
	case F16:
		m.U16 = make([]uint16, len(v))
		var b [2]byte
		for i := range v {
			// A valid binary16 in [-2, 2]: sign, exponent 13..15, random mantissa.
			binary.LittleEndian.PutUint16(b[:], uint16(r.IntN(2))<<15|uint16(13+r.IntN(3))<<10|uint16(r.IntN(1024)))
			m.U16[i] = binary.LittleEndian.Uint16(b[:])
		}
	}
	return m
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, dt := range []DType{F32, BF16, F16} {
			for _, sh := range [][3]int{{1, 1, 1}, {1, 17, 33}, {3, 64, 7}, {5, 131, 129}, {1, 300, 64}, {9, 45, 1000},
				// m > 16: blocks of activation rows by weight rows, ragged at both ends.
				// and items of a sweep's rows (blockRows) for long rows.
				{17, 5, 40}, {130, 401, 33}, {70, 130, 2000}} {
				m, n, k := sh[0], sh[1], sh[2]
				w := randMat(r, dt, n, k)
				x := randVec(r, m*k)
				got := make([]float32, m*n)
				want := make([]float32, m*n)
				MatMul(p, got, x, m, w)
				MatMulRef(want, x, m, w)
				// Within 1e-4 relative, or the float32 rounding bound of
				// a k-term sum, (k+16)·2⁻²⁴·Σ|x·w|: a long sum that
				// cancels to almost nothing (k = 2000) is off by more
				// than 1e-4 of its result.
				abs := make([]float32, m*n)
				row := make([]float32, k)
				for r := 0; r < n; r++ {
					w.Row(r, row)
					for ti := 0; ti < m; ti++ {
						var s float64
						for i, v := range row {
							s += math.Abs(float64(v) * float64(x[ti*k+i]))
						}
						abs[ti*n+r] = float32(s)
					}
				}
				for i := range want {
					d := math.Abs(float64(got[i] - want[i]))
					if d > max(1e-4*(1+math.Abs(float64(want[i]))), float64(k+16)*0x1p-24*float64(abs[i])) || math.IsNaN(float64(got[i])) {
						t.Fatalf("%v threads=%d m=%d n=%d k=%d: [%d] = %g, want %g (Σ|x·w| %g)", dt, threads, m, n, k, i, got[i], want[i], abs[i])
					}
				}
			}
		}
		p.Close()
	}
}

// Splitting rows across workers must not change a single bit.
func TestMatMulThreadInvariant(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := randMat(r, BF16, 517, 300)
	for _, m := range []int{3, 250} {
		x := randVec(r, m*300)
		var ref []float32
		for _, threads := range []int{1, 2, 4, 7} {
			p := NewPool(threads)
			y := make([]float32, m*517)
			MatMul(p, y, x, m, w)
			// Each row alone: the split must not change a bit either.
			row := make([]float32, 517)
			for _, t0 := range []int{0, m / 2, m - 1} {
				MatMul(p, row, x[t0*300:], 1, w)
				for i := range row {
					if row[i] != y[t0*517+i] {
						t.Fatalf("m=%d threads=%d: row %d alone [%d] = %x, in the batch %x", m, threads, t0, i, math.Float32bits(row[i]), math.Float32bits(y[t0*517+i]))
					}
				}
			}
			p.Close()
			if ref == nil {
				ref = y
				continue
			}
			for i := range y {
				if y[i] != ref[i] {
					t.Fatalf("m=%d threads=%d: y[%d] = %x, 1 thread gave %x", m, threads, i, math.Float32bits(y[i]), math.Float32bits(ref[i]))
				}
			}
		}
	}
}

// MatMuls gives the bits of one MatMul (or MatMulBF16Act) per product,
// whatever the thread count and wherever the matrices meet in its rows.
func TestMatMuls(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, dt := range []DType{F32, BF16, F16} {
			// {m, k, rows of each product}; the last one has rows too
			// long for mmBlockN of them to fit L2, so its items are
			// sweeps (blockRows) and three blocks of activation rows.
			for _, sh := range [][5]int{{1, 96, 896, 128, 128}, {1, 96, 40, 7, 300}, {3, 96, 64, 64, 0}, {37, 96, 100, 33, 5},
				{130, 2000, 200, 50, 9}} {
				m, k := sh[0], sh[1]
				var ps, one []Product
				for _, n := range sh[2:] {
					if n == 0 {
						continue
					}
					w := randMat(r, dt, n, k)
					ps = append(ps, Product{Y: make([]float32, m*n), W: w})
					one = append(one, Product{Y: make([]float32, m*n), W: w})
				}
				x := randVec(r, m*k)
				xb := ToBF16(p, nil, x)
				for _, bf16Act := range []bool{false, true} {
					if bf16Act && dt != BF16 {
						continue
					}
					if bf16Act {
						MatMulsBF16Act(p, xb, m, ps...)
					} else {
						MatMuls(p, x, m, ps...)
					}
					for i := range one {
						if bf16Act {
							MatMulBF16Act(p, one[i].Y, xb, m, one[i].W)
						} else {
							MatMul(p, one[i].Y, x, m, one[i].W)
						}
						for e := range one[i].Y {
							if ps[i].Y[e] != one[i].Y[e] {
								t.Fatalf("%v bf16act=%v threads=%d shape %v: product %d [%d] = %x, MatMul %x",
									dt, bf16Act, threads, sh, i, e, math.Float32bits(ps[i].Y[e]), math.Float32bits(one[i].Y[e]))
							}
						}
					}
				}
			}
		}
		p.Close()
	}
}

func TestMatMulsErrors(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	w := &Mat{DType: F32, Rows: 2, Cols: 3, F32: make([]float32, 6)}
	v := &Mat{DType: F32, Rows: 2, Cols: 4, F32: make([]float32, 8)}
	y := make([]float32, 8)
	for name, f := range map[string]func(){
		"columns":  func() { MatMuls(p, make([]float32, 4), 1, Product{y, w}, Product{y, v}) },
		"count":    func() { MatMuls(p, make([]float32, 3), 1, Product{y, w}, Product{y, w}, Product{y, w}, Product{y, w}) },
		"bf16 act": func() { MatMulsBF16Act(p, make([]uint16, 3), 1, Product{y, w}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ H, KV, hd int }{{4, 2, 16}, {4, 4, 8}, {6, 1, 32}, {2, 2, 2}} {
		p := NewPool(2)
		a := Attention{H: tc.H, KV: tc.KV, HD: tc.hd}
		var segs, refs []AttnSeg
		// One-token segments take the per-token path; longer ones the
		// blocked one, with one, several and ragged blocks of attnBlock.
		for _, sh := range [][2]int{{1, 0}, {5, 0}, {1, 37}, {3, 11}, {attnBlock, 0}, {2*attnBlock + 7, 0}, {attnBlock + 1, 29}} {
			n, past := sh[0], sh[1]
			s := AttnSeg{
				Q: randVec(r, n*tc.H*tc.hd), Out: make([]float32, n*tc.H*tc.hd),
				K: randVec(r, (past+n)*tc.KV*tc.hd), V: randVec(r, (past+n)*tc.KV*tc.hd),
				N: n, Past: past,
			}
			ref := s
			ref.Out = make([]float32, len(s.Out))
			segs, refs = append(segs, s), append(refs, ref)
			// The same cache head-major, in a capacity of 3 more positions.
			hm := s
			hm.Out = make([]float32, len(s.Out))
			hm.HeadMajor = (past + n + 3) * tc.hd
			hm.K, hm.V = make([]float32, tc.KV*hm.HeadMajor), make([]float32, tc.KV*hm.HeadMajor)
			for g := 0; g < tc.KV; g++ {
				for j := 0; j < past+n; j++ {
					copy(hm.K[g*hm.HeadMajor+j*tc.hd:][:tc.hd], s.K[(j*tc.KV+g)*tc.hd:])
					copy(hm.V[g*hm.HeadMajor+j*tc.hd:][:tc.hd], s.V[(j*tc.KV+g)*tc.hd:])
				}
			}
			hmRef := hm
			hmRef.Out = make([]float32, len(s.Out))
			segs, refs = append(segs, hm), append(refs, hmRef)
		}
		a.Compute(p, segs)
		for i := range segs {
			AttentionRef(refs[i], tc.H, tc.KV, tc.hd)
			closeTo(t, fmt.Sprintf("H=%d KV=%d hd=%d seg %d", tc.H, tc.KV, tc.hd, i), segs[i].Out, refs[i].Out, 1e-5)
			// Odd segments are the even ones head-major: the same rows
			// under another stride give the same bits.
			if i%2 == 1 && !slices.Equal(segs[i].Out, segs[i-1].Out) {
				t.Errorf("H=%d KV=%d hd=%d seg %d: head-major result differs from position-major", tc.H, tc.KV, tc.hd, i)
			}
		}
		p.Close()
	}
}

func TestRMSNormRopeSoftmaxSiLU(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, d := range []int{1, 2, 7, 64, 129} {
		x, w := randVec(r, 3*d), randVec(r, d)
		got := make([]float32, 3*d)
		RMSNorm(got, x, 3, w, 1e-6)
		for row := 0; row < 3; row++ {
			closeTo(t, fmt.Sprintf("rmsnorm d=%d", d), got[row*d:(row+1)*d], RMSNormRef(x[row*d:(row+1)*d], w, 1e-6), 1e-6)
		}
	}
	for _, hd := range []int{2, 16, 128} {
		rope := NewRope(hd, 1e6)
		cos, sin := make([]float32, hd/2), make([]float32, hd/2)
		for _, pos := range []int{0, 1, 125, 4000} {
			x := randVec(r, hd)
			want := RopeRef(x, pos, 1e6)
			rope.Table(pos, cos, sin)
			ApplyRope(x, 1, hd, cos, sin)
			// float32 angles (as HF) differ from float64 ones by ~ulp(pos·f).
			closeTo(t, fmt.Sprintf("rope hd=%d pos=%d", hd, pos), x, want, 2e-3*float64(pos+1)/4000+1e-6)
		}
	}
	x := []float32{1, 2, 3, 1000}
	SoftmaxInPlace(x)
	closeTo(t, "softmax", x, []float32{0, 0, 0, 1}, 1e-6)
	g, u := []float32{-2, 0, 3}, []float32{1, 5, 2}
	SiLUMul(g, u)
	closeTo(t, "silu", g, []float32{float32(-2 / (1 + math.Exp(2))), 0, float32(3 / (1 + math.Exp(-3)) * 2)}, 1e-6)
}

func TestPoolCoversRange(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, n := range []int{0, 1, 2, 10, 1001, 151936} {
		for _, grain := range []int{1, 3, 16, 64, 5000} {
			hits := make([]int32, n)
			var misaligned atomic.Int32
			p.For(n, grain, func(_, lo, hi int) {
				// Chunks are whole multiples of grain on one grid; only
				// the one ending at n may be short.
				if lo%grain != 0 || (hi != n && (hi-lo)%grain != 0) {
					misaligned.Add(1)
				}
				for i := lo; i < hi; i++ {
					hits[i]++
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d grain=%d: item %d run %d times", n, grain, i, h)
				}
			}
			if c := misaligned.Load(); c != 0 {
				t.Fatalf("n=%d grain=%d: %d chunks off the grain's grid", n, grain, c)
			}
		}
	}
}

// When one worker stalls on its first chunk, the others run the rest of
// its share: Run would otherwise wait for the stalled worker's whole share.
func TestPoolSteals(t *testing.T) {
	for _, slow := range []int{0, 1} {
		p := NewPool(2)
		const n = 64
		var hits [n]atomic.Int32
		var done atomic.Int32
		var stalled atomic.Bool
		p.For(n, 1, func(w, lo, hi int) {
			for i := lo; i < hi; i++ {
				if w == slow && stalled.CompareAndSwap(false, true) {
					// Wait until every item outside this claim ran:
					// only stealing can get them done.
					deadline := time.Now().Add(10 * time.Second)
					for done.Load() < int32(n-(hi-lo)) {
						if time.Now().After(deadline) {
							t.Errorf("slow worker %d: %d other items done after 10 s", slow, done.Load())
							break
						}
						time.Sleep(50 * time.Microsecond)
					}
				}
				hits[i].Add(1)
				done.Add(1)
			}
		})
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Fatalf("slow worker %d: item %d ran %d times", slow, i, h)
			}
		}
		p.Close()
	}
}

// countJob counts the items it ran.
type countJob struct{ n atomic.Int64 }

func (j *countJob) Run(_, lo, hi int) { j.n.Add(int64(hi - lo)) }

// Many short operations back to back, with more workers than cores so
// that some are descheduled mid-handshake and others park: every Run
// returns only when all of its items ran, and none hangs.
func TestPoolManyShortRuns(t *testing.T) {
	for _, threads := range []int{2, 5} {
		p := NewPool(threads)
		var j countJob
		for i := 0; i < 20000; i++ {
			n := 2 + i%37
			j.n.Store(0)
			p.Run(n, 1, &j)
			if got := j.n.Load(); got != int64(n) {
				t.Fatalf("threads=%d run %d: %d of %d items done when Run returned", threads, i, got, n)
			}
			if i%5000 == 4999 {
				time.Sleep(300 * time.Microsecond) // let workers park
			}
		}
		p.Close()
	}
}
