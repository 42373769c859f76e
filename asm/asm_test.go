package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// forEachLevel runs f once per dispatch level available here.
func forEachLevel(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer use(available[0])
	for _, l := range Levels() {
		if err := SetLevel(l); err != nil {
			t.Fatal(err)
		}
		t.Run(l, f)
	}
}

func randF32(r *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (2*r.Float32() - 1) * scale
	}
	return s
}

func toBF16(s []float32) []uint16 {
	b := make([]uint16, len(s))
	F32ToBF16(b, s)
	return b
}

func toF16(s []float32) []uint16 {
	b := make([]uint16, len(s))
	for i, v := range s {
		b[i] = f16bits(v)
	}
	return b
}

// f16bits rounds v to binary16 (values here are in the normal range).
func f16bits(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	a := math.Abs(float64(v))
	if a < 6.2e-5 {
		return sign
	}
	e := int(b>>23&0xff) - 127 + 15
	m := b & 0x7fffff
	h := uint32(e)<<10 | m>>13
	rest := m & 0x1fff
	if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// sumTol is the tolerance of a float32 sum of kk products whose absolute
// values add up to abs.
func sumTol(kk int, abs float64) float64 {
	return float64(kk+16)*0x1p-24*abs + 1e-30
}

type mmCase struct {
	name string
	run  func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	ref  func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	wval func(w []float32) []float32 // values of w as the kernel sees them
}

var mmCases = []mmCase{
	{"f32",
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulF32(y, ldy, x, ldx, w, ldw, m, n, kk)
		},
		MatMulF32Generic,
		func(w []float32) []float32 { return w }},
	{"bf16",
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulBF16(y, ldy, x, ldx, toBF16(w), ldw, m, n, kk)
		},
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulBF16Generic(y, ldy, x, ldx, toBF16(w), ldw, m, n, kk)
		},
		func(w []float32) []float32 {
			o := make([]float32, len(w))
			for i, b := range toBF16(w) {
				o[i] = BF16ToF32(b)
			}
			return o
		}},
	{"f16",
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulF16(y, ldy, x, ldx, toF16(w), ldw, m, n, kk)
		},
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulF16Generic(y, ldy, x, ldx, toF16(w), ldw, m, n, kk)
		},
		func(w []float32) []float32 {
			o := make([]float32, len(w))
			for i, b := range toF16(w) {
				o[i] = F16ToF32(b)
			}
			return o
		}},
	{"bf16bf16",
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulBF16BF16(y, ldy, toBF16(x), ldx, toBF16(w), ldw, m, n, kk)
		},
		func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int) {
			MatMulBF16BF16Generic(y, ldy, toBF16(x), ldx, toBF16(w), ldw, m, n, kk)
		},
		nil},
}

// checkMMCase runs one shape with unaligned starts and padded strides and
// compares every element with the reference.
func checkMMCase(t *testing.T, c mmCase, r *rand.Rand, m, n, kk int) {
	t.Helper()
	off := kk % 3
	ldx, ldw, ldy := kk+off, kk+2*off, n+1
	x := randF32(r, off+max(0, (m-1)*ldx+kk), 1)[off:]
	w := randF32(r, off+max(0, (n-1)*ldw+kk), 1)[off:]
	got := make([]float32, (m-1)*ldy+n+1)
	want := make([]float32, len(got))
	for i := range got {
		got[i], want[i] = -7, -7
	}
	c.run(got, ldy, x, ldx, w, ldw, m, n, kk)
	c.ref(want, ldy, x, ldx, w, ldw, m, n, kk)
	xv, wv := x, w
	if c.wval != nil {
		wv = c.wval(w)
	} else {
		xv, wv = toBF16Vals(x), toBF16Vals(w)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var abs float64
			for k := 0; k < kk; k++ {
				abs += math.Abs(float64(xv[i*ldx+k]) * float64(wv[j*ldw+k]))
			}
			g, e := got[i*ldy+j], want[i*ldy+j]
			if d := math.Abs(float64(g) - float64(e)); !(d <= sumTol(kk, abs)) {
				t.Fatalf("%s m=%d n=%d kk=%d: y[%d,%d] = %g, want %g (diff %g, tol %g)", c.name, m, n, kk, i, j, g, e, d, sumTol(kk, abs))
			}
		}
		if i < m-1 && got[i*ldy+n] != -7 {
			t.Fatalf("%s m=%d n=%d kk=%d: wrote past row %d", c.name, m, n, kk, i)
		}
	}
	if got[len(got)-1] != -7 {
		t.Fatalf("%s m=%d n=%d kk=%d: wrote past the end", c.name, m, n, kk)
	}
}

func toBF16Vals(s []float32) []float32 {
	o := make([]float32, len(s))
	for i, b := range toBF16(s) {
		o[i] = BF16ToF32(b)
	}
	return o
}

func TestMatMul(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		for _, c := range mmCases {
			r := rand.New(rand.NewPCG(1, 2))
			for kk := 0; kk <= 300; kk++ {
				m, n := 1+kk%6, 1+kk%9
				checkMMCase(t, c, r, m, n, kk)
				if kk%37 == 0 {
					checkMMCase(t, c, r, 1, 1, kk)
				}
			}
			// m > 16 takes the x-stationary order when an x tile fits L1
			// (k ≤ 1536), the x-block order otherwise.
			for _, s := range [][3]int{{1, 37, 1024}, {9, 13, 1024}, {4, 8, 2048}, {5, 7, 4099}, {13, 5, 777},
				{40, 37, 300}, {33, 70, 1031}, {64, 5, 16}, {24, 19, 3000}, {21, 9, 4864}, {50, 203, 4864}} {
				checkMMCase(t, c, r, s[0], s[1], s[2])
			}
			// m = 1 over contiguous rows (k a multiple of 3: ldw = kk) takes
			// the matrix-vector kernels for them (mvSet: row loops, or tiles
			// that prefetch in memory order; float32 rows of 8 KB and more four at a time).
			for _, s := range [][2]int{{48, 96}, {50, 768}, {40, 1023}, {33, 2046}, {35, 3072}, {36, 4866}, {37, 4866}, {38, 4866}, {39, 4866}, {3, 4866}, {37, 4880}} {
				checkMMCase(t, c, r, 1, s[0], s[1])
			}
		}
	})
}

// TestMatMulInvariance checks the contract that a row's result does not
// depend on m, on the slab of w rows it is computed in, or on its place in
// that slab: bit-identical results.
func TestMatMulInvariance(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		for _, c := range mmCases {
			r := rand.New(rand.NewPCG(3, 4))
			for _, sh := range [][3]int{{7, 11}, {16, 11}, {100, 11}, {300, 11}, {1024, 11}, {1031, 11}, {300, 40}, {1031, 40},
				// k split into parts for m > 16 (x tiles over all of k do not fit L1),
				// for float32 in the parts order over several blocks of w
				// and groups of x tiles (driveKSParts).
				{3000, 40}, {4864, 24}, {4864, 50, 203}} {
				kk, m, n := sh[0], sh[1], 23
				if sh[2] > 0 {
					n = sh[2]
				}
				x := randF32(r, m*kk, 1)
				w := randF32(r, n*kk, 1)
				full := make([]float32, m*n)
				c.run(full, n, x, kk, w, kk, m, n, kk)
				part := make([]float32, m*n)
				for _, split := range [][2]int{{0, 1}, {1, 6}, {6, 7}, {7, n}, {2, 5}, {5, n - 1}} {
					n0, n1 := split[0], split[1]
					for _, mm := range [][2]int{{0, m}, {3, 4}, {2, 7}, {1, m - 2}} {
						t0, t1 := mm[0], mm[1]
						c.run(part[t0*n+n0:], n, x[t0*kk:], kk, w[n0*kk:], kk, t1-t0, n1-n0, kk)
						for i := t0; i < t1; i++ {
							for j := n0; j < n1; j++ {
								if part[i*n+j] != full[i*n+j] {
									t.Fatalf("%s kk=%d: y[%d,%d] rows %d..%d slab %d..%d = %x, full product %x",
										c.name, kk, i, j, t0, t1, n0, n1, math.Float32bits(part[i*n+j]), math.Float32bits(full[i*n+j]))
								}
							}
						}
					}
				}
			}
		}
	})
}

func vecSizes() []int {
	var s []int
	for n := 0; n <= 300; n++ {
		s = append(s, n)
	}
	return append(s, 1024, 3072, 4097)
}

func ulpDiff(a, b float32) float64 {
	if a == b {
		return 0
	}
	u := math.Abs(float64(math.Nextafter32(b, float32(math.Inf(1))) - b))
	return math.Abs(float64(a)-float64(b)) / u
}

func TestDotAxpy(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, n := range vecSizes() {
			o := n % 4
			a := randF32(r, n+o, 1)[o:]
			b := randF32(r, n+1, 1)[1:]
			var abs float64
			for i := range a {
				abs += math.Abs(float64(a[i] * b[i]))
			}
			g, e := DotF32(a, b), DotF32Generic(a, b)
			if d := math.Abs(float64(g - e)); d > sumTol(n, abs) {
				t.Fatalf("DotF32 n=%d: %g want %g", n, g, e)
			}
			y1 := randF32(r, n+3, 1)
			y2 := append([]float32(nil), y1...)
			AxpyF32(0.37, a, y1[1:])
			AxpyF32Generic(0.37, a, y2[1:])
			for i := range y1 {
				if d := math.Abs(float64(y1[i] - y2[i])); d > 1e-6 {
					t.Fatalf("AxpyF32 n=%d: y[%d] = %g want %g", n, i, y1[i], y2[i])
				}
			}
		}
	})
}

func TestElementwiseExact(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range vecSizes() {
			o := n % 5
			a := randF32(r, n+o+1, 3)[o:]
			a = a[:n]
			b := randF32(r, n+2, 3)[2:]
			// Scale
			s1 := append([]float32(nil), a...)
			s2 := append([]float32(nil), a...)
			ScaleF32(-1.7, s1)
			ScaleF32Generic(-1.7, s2)
			eqExact(t, "ScaleF32", n, s1, s2)
			// Add, with aliasing
			d1 := make([]float32, n+1)
			d2 := make([]float32, n+1)
			AddF32(d1[1:], a, b)
			AddF32Generic(d2[1:], a, b)
			eqExact(t, "AddF32", n, d1, d2)
			// RoPE over 2n (+1 odd element) values
			x := randF32(r, 2*n+1+o, 2)[o:]
			cs := randF32(r, n+1, 1)[1:]
			sn := randF32(r, n+3, 1)[3:]
			x1 := append([]float32(nil), x...)
			x2 := append([]float32(nil), x...)
			RoPEF32(x1, cs, sn)
			RoPEF32Generic(x2, cs, sn)
			eqExact(t, "RoPEF32", n, x1, x2)
			RoPEF32(x1[:2*n], cs, sn)
			RoPEF32Generic(x2[:2*n], cs, sn)
			eqExact(t, "RoPEF32 even", n, x1, x2)
		}
	})
}

func eqExact(t *testing.T, name string, n int, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s n=%d: [%d] = %g want %g", name, n, i, got[i], want[i])
		}
	}
}

func TestRMSNorm(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range vecSizes() {
			o := n % 3
			x := randF32(r, n+o, 4)[o:]
			w := randF32(r, n+1, 2)[1:]
			d1 := make([]float32, n)
			d2 := make([]float32, n)
			RMSNormF32(d1, x, w, 1e-6)
			RMSNormF32Generic(d2, x, w, 1e-6)
			for i := range d1 {
				// The sum of squares may differ by (n+16)·2^-24 relative.
				tol := float64(n+16)*0x1p-24*math.Abs(float64(d2[i])) + 1e-30
				if d := math.Abs(float64(d1[i] - d2[i])); d > tol {
					t.Fatalf("RMSNormF32 n=%d: [%d] = %g want %g", n, i, d1[i], d2[i])
				}
			}
			copy(d1, x)
			RMSNormF32(d1, d1, w, 1e-6) // in place
			for i := range d1 {
				if d := math.Abs(float64(d1[i] - d2[i])); d > float64(n+16)*0x1p-24*math.Abs(float64(d2[i]))+1e-30 {
					t.Fatalf("RMSNormF32 in place n=%d: [%d] = %g want %g", n, i, d1[i], d2[i])
				}
			}
		}
	})
}

func TestSiLUMul(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 20, -20, 87, -87, 88.5, -88.5, 89, -89,
			100, -100, 104, -104, 1e-20, -1e-20, 200, -200}
		for _, n := range vecSizes() {
			o := n % 3
			g := randF32(r, n+o, 12)[o:]
			for i := 0; i < n && i < len(special); i++ {
				g[(i*7)%n] = special[i]
			}
			u := randF32(r, n, 2)
			d1 := make([]float32, n)
			d2 := make([]float32, n)
			SiLUMulF32(d1, g, u)
			SiLUMulF32Generic(d2, g, u)
			for i := range d1 {
				if ulpDiff(d1[i], d2[i]) > 4 && math.Abs(float64(d1[i]-d2[i])) > 1e-35 {
					t.Fatalf("SiLUMulF32 n=%d: g=%g u=%g: %g want %g (%.1f ulp)", n, g[i], u[i], d1[i], d2[i], ulpDiff(d1[i], d2[i]))
				}
			}
		}
	})
}

func TestSoftmax(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, n := range vecSizes() {
			o := n % 3
			x := randF32(r, n+o, 30)[o:]
			y := append([]float32(nil), x...)
			SoftmaxF32(x)
			SoftmaxF32Generic(y)
			for i := range x {
				tol := (4 + float64(n+16)/2) * 0x1p-23 * float64(y[i])
				if d := math.Abs(float64(x[i] - y[i])); d > tol+1e-37 {
					t.Fatalf("SoftmaxF32 n=%d: [%d] = %g want %g", n, i, x[i], y[i])
				}
			}
		}
	})
}

func TestF32ToBF16(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		for _, c := range []struct {
			f float32
			b uint16
		}{{1, 0x3f80}, {-2, 0xc000}, {math.Float32frombits(0x3f808000), 0x3f80}, {math.Float32frombits(0x3f818000), 0x3f82},
			{math.Float32frombits(0x3f808001), 0x3f81}, {float32(math.Inf(1)), 0x7f80}, {math.Float32frombits(0x7f7fffff), 0x7f80}} {
			var d [1]uint16
			F32ToBF16(d[:], []float32{c.f})
			if d[0] != c.b {
				t.Errorf("F32ToBF16(%x) = %x want %x", math.Float32bits(c.f), d[0], c.b)
			}
		}
		var d [1]uint16
		F32ToBF16(d[:], []float32{float32(math.NaN())})
		if f := BF16ToF32(d[0]); f == f {
			t.Errorf("NaN became %g", f)
		}
		// Bit for bit the reference on every length, offset and kind of
		// value: random bits (NaNs with payloads, infinities, denormals,
		// ties) and ordinary numbers.
		r := rand.New(rand.NewPCG(9, 10))
		for n := 0; n <= 300; n++ {
			off := n % 5
			src := make([]float32, off+n)
			for i := range src {
				switch i % 4 {
				case 0:
					src[i] = math.Float32frombits(r.Uint32())
				case 1:
					src[i] = math.Float32frombits(r.Uint32()&0xffff0000 | 0x8000) // a tie
				case 2:
					src[i] = math.Float32frombits(0x7f800000 | r.Uint32()&0x807fffff) // Inf or NaN
				default:
					src[i] = float32(r.NormFloat64())
				}
			}
			got := make([]uint16, off+n+1)
			want := make([]uint16, len(got))
			got[len(got)-1], want[len(want)-1] = 0xdead, 0xdead
			F32ToBF16(got[off:], src[off:])
			F32ToBF16Generic(want[off:], src[off:])
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("n=%d: [%d] of %x = %x, want %x", n, i, math.Float32bits(src[min(i, len(src)-1)]), got[i], want[i])
				}
			}
		}
	})
}

func TestAllocs(t *testing.T) {
	x := randF32(rand.New(rand.NewPCG(1, 1)), 4*1024, 1)
	w := randF32(rand.New(rand.NewPCG(1, 2)), 40*1024, 1)
	wb := toBF16(w)
	xb := toBF16(x)
	y := make([]float32, 64)
	forEachLevel(t, func(t *testing.T) {
		for name, f := range map[string]func(){
			"MatMulF32":      func() { MatMulF32(y, 8, x, 1024, w, 1024, 4, 8, 1024) },
			"MatVecBF16":     func() { MatMulBF16(y, 40, x, 1024, wb, 1024, 1, 40, 1024) },
			"BatchedBF16":    func() { MatMulBF16(y, 8, x, 1024, wb, 1024, 3, 8, 1024) },
			"MatMulBF16":     func() { MatMulBF16(y, 8, x, 1024, wb, 1024, 4, 8, 1024) },
			"MatMulF16":      func() { MatMulF16(y, 8, x, 1024, wb, 1024, 4, 8, 1024) },
			"MatMulBF16BF16": func() { MatMulBF16BF16(y, 8, xb, 1024, wb, 1024, 4, 8, 1024) },
			"RMSNormF32":     func() { RMSNormF32(y, x[:64], w[:64], 1e-6) },
			"SiLUMulF32":     func() { SiLUMulF32(y, x[:64], w[:64]) },
			"SoftmaxF32":     func() { SoftmaxF32(y) },
			"RoPEF32":        func() { RoPEF32(y, x[:32], w[:32]) },
			"Dot":            func() { _ = DotF32(x, w) },
		} {
			if a := testing.AllocsPerRun(20, f); a != 0 {
				t.Errorf("%s: %v allocs per run", name, a)
			}
		}
	})
}

func TestLevels(t *testing.T) {
	l := Levels()
	if l[len(l)-1] != "generic" {
		t.Fatalf("Levels() = %v", l)
	}
	if Dispatch() != l[0] {
		t.Fatalf("Dispatch() = %s, Levels() = %v", Dispatch(), l)
	}
	if SetLevel("nonsense") == nil {
		t.Fatal("SetLevel accepted an unknown level")
	}
	fmt.Println("levels:", l)
}

// TestMatMulNN checks MatMulNNF32 against its reference on every level:
// row counts across the 6-row tiles, column counts across the 64-column
// tiles and their tails, strided and unaligned operands, and no write
// outside the rows' n columns.
func TestMatMulNN(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{1, 5, 63, 64, 65, 128, 130} {
			for _, kk := range []int{0, 1, 2, 17, 64, 100, 300, 577} {
				for _, m := range []int{1, 2, 5, 6, 7, 13} {
					off := (kk + n) % 3
					ldx, ldw, ldy := kk+off, n+2*off, n+1
					x := randF32(r, off+max(0, (m-1)*ldx+kk), 1)[off:]
					w := randF32(r, off+max(0, (kk-1)*ldw+n), 1)[off:]
					got := make([]float32, (m-1)*ldy+n+1)
					want := make([]float32, len(got))
					for i := range got {
						got[i], want[i] = -7, -7
					}
					MatMulNNF32(got, ldy, x, ldx, w, ldw, m, n, kk)
					MatMulNNF32Generic(want, ldy, x, ldx, w, ldw, m, n, kk)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var abs float64
							for k := 0; k < kk; k++ {
								abs += math.Abs(float64(x[i*ldx+k]) * float64(w[k*ldw+j]))
							}
							g, e := got[i*ldy+j], want[i*ldy+j]
							if d := math.Abs(float64(g) - float64(e)); !(d <= sumTol(kk, abs)) {
								t.Fatalf("m=%d n=%d kk=%d: y[%d,%d] = %g, want %g (diff %g)", m, n, kk, i, j, g, e, d)
							}
						}
						if i < m-1 && got[i*ldy+n] != -7 {
							t.Fatalf("m=%d n=%d kk=%d: wrote past row %d", m, n, kk, i)
						}
					}
					if got[len(got)-1] != -7 {
						t.Fatalf("m=%d n=%d kk=%d: wrote past the end", m, n, kk)
					}
				}
			}
		}
	})
}

// The limit measurements give a finite positive figure on every level,
// and the bandwidth one none for a buffer too small to share out.
func TestMeasure(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		buf := make([]float32, 1<<20)
		for _, th := range []int{1, 2} {
			if bw := MeasureReadBandwidthIn(th, buf); !(bw > 0) || math.IsInf(bw, 0) {
				t.Errorf("threads=%d: read bandwidth %v GB/s", th, bw)
			}
		}
		if bw := MeasureReadBandwidthIn(2, buf[:bwRow]); bw != 0 {
			t.Errorf("buffer of one row for 2 threads: %v GB/s, want 0", bw)
		}
		regions := [][]float32{buf[:5000], buf[6000:6001], nil, buf[7000 : 300000-7]}
		if bw := MeasureReadBandwidthOver(2, regions); !(bw > 0) || math.IsInf(bw, 0) {
			t.Errorf("regions: read bandwidth %v GB/s", bw)
		}
		if bw := MeasureReadBandwidthOnce(2, regions); !(bw > 0) || math.IsInf(bw, 0) {
			t.Errorf("regions, one pass: read bandwidth %v GB/s", bw)
		}
		if bw := MeasureReadBandwidthOnce(2, [][]float32{buf[:bwRow]}); bw != 0 {
			t.Errorf("one pass over one row for 2 threads: %v GB/s, want 0", bw)
		}
	})
}

// splitShares gives each thread the same whole number of rows, as
// consecutive pieces of the regions taken in order.
func TestSplitShares(t *testing.T) {
	mk := func(lens ...int) [][]float32 {
		var rs [][]float32
		for _, n := range lens {
			rs = append(rs, make([]float32, n))
		}
		return rs
	}
	for _, tc := range []struct {
		threads int
		lens    []int
	}{
		{1, []int{bwRow}},
		{2, []int{bwRow}},
		{2, []int{3 * bwRow}},
		{2, []int{5000, 1, 0, 290000}},
		{3, []int{100, 200, 5 * bwRow, 7}},
		{2, []int{bwRow, bwRow}},
		{4, []int{10 * bwRow, 3, 3 * bwRow}},
	} {
		regions := mk(tc.lens...)
		total := 0
		for _, n := range tc.lens {
			total += n
		}
		share := total / tc.threads / bwRow * bwRow
		got := splitShares(tc.threads, regions)
		if share == 0 {
			if got != nil {
				t.Errorf("%d threads over %v: %d shares, want none", tc.threads, tc.lens, len(got))
			}
			continue
		}
		if len(got) != tc.threads {
			t.Fatalf("%d threads over %v: %d shares", tc.threads, tc.lens, len(got))
		}
		// Walk the regions alongside the pieces: each piece must be the
		// next values of the concatenation.
		ri, off := 0, 0
		for th, ps := range got {
			n := 0
			for _, p := range ps {
				for len(regions[ri]) == off {
					ri, off = ri+1, 0
				}
				if len(p) == 0 || &p[0] != &regions[ri][off] || off+len(p) > len(regions[ri]) {
					t.Fatalf("%d threads over %v: share %d piece at region %d offset %d is not the next values", tc.threads, tc.lens, th, ri, off)
				}
				off += len(p)
				n += len(p)
			}
			if n != share {
				t.Errorf("%d threads over %v: share %d holds %d values, want %d", tc.threads, tc.lens, th, n, share)
			}
		}
	}
}
