package latent

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantizeMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	inputs := map[string][]float32{
		"gaussian":   randScores(r, 2560),
		"ramp":       make([]float32, 1000),
		"two values": {-1, 3, 3, -1},
		"tiny range": {1, 1 + 1e-6, 1 + 2e-6, 1 + 3e-6},
		"latent":     nil,
	}
	for i := range inputs["ramp"] {
		inputs["ramp"][i] = float32(i)/999*0.3 - 0.1
	}
	lat := randScores(r, 64) // a latent with the reference's norm ~0.16
	s := float32(0.16 / norm(lat))
	for i := range lat {
		lat[i] *= s
	}
	inputs["latent"] = lat
	for name, in := range inputs {
		for _, bits := range []int{1, 2, 4, 8, 12} {
			x := slices.Clone(in)
			QuantizeMinMax(x, bits)
			lo, hi := slices.Min(in), slices.Max(in)
			scale := float64(hi-lo) / float64(int(1)<<bits-1)
			levels := map[float32]bool{}
			for i, v := range x {
				levels[v] = true
				// ≤ scale/2 from rounding to the grid, plus float32 rounding of
				// the grid arithmetic.
				if e := math.Abs(float64(v - in[i])); e > scale/2+4e-7*math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))+1e-12 {
					t.Fatalf("%s, %d bits: |x̂ − x| = %g at %d exceeds scale/2 = %g", name, bits, e, i, scale/2)
				}
			}
			if len(levels) > 1<<bits {
				t.Fatalf("%s, %d bits: %d distinct values, at most %d allowed", name, bits, len(levels), 1<<bits)
			}
			if x[slices.Index(in, lo)] != lo {
				t.Errorf("%s, %d bits: the minimum is not reproduced exactly", name, bits)
			}
			// A ramp with more points than levels uses every level.
			if name == "ramp" && 1<<bits <= len(in) && len(levels) != 1<<bits {
				t.Errorf("ramp, %d bits: %d levels used, want %d", bits, len(levels), 1<<bits)
			}
		}
	}
}

func TestQuantizeMinMaxEdgeCases(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	x := randScores(r, 100)
	for _, bits := range []int{16, 17, 32} {
		y := slices.Clone(x)
		QuantizeMinMax(y, bits)
		if !slices.Equal(x, y) {
			t.Errorf("%d bits changed the input", bits)
		}
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range [][]float32{
		{0.25, 0.25, 0.25}, // constant: the reference's division by zero (Q3)
		{7},
		{},
		{1, nan, 2},
		{1, inf, 2},
		{-math.MaxFloat32, math.MaxFloat32}, // hi − lo overflows
	} {
		y := slices.Clone(c)
		QuantizeMinMax(y, 4)
		for i := range c {
			if math.Float32bits(y[i]) != math.Float32bits(c[i]) {
				t.Errorf("%v changed to %v", c, y)
				break
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("0 bits did not panic")
		}
	}()
	QuantizeMinMax(x, 0)
}

func TestQuantBytes(t *testing.T) {
	for _, c := range []struct {
		n, bits int
		want    int64
	}{
		{2560, 16, 5120}, {2560, 8, 2560}, {2560, 4, 1280}, {2560, 2, 640},
		{3, 2, 1}, {5, 2, 2}, {1, 1, 1}, {0, 8, 0}, {4096 * 10, 32, 163840},
	} {
		if got := QuantBytes(c.n, c.bits); got != c.want {
			t.Errorf("QuantBytes(%d, %d) = %d, want %d", c.n, c.bits, got, c.want)
		}
	}
	// The reference's transmitted/raw ratio is b/16.
	if r := float64(QuantBytes(2560, 4)) / float64(QuantBytes(2560, 16)); r != 4.0/16 {
		t.Errorf("ratio %g", r)
	}
}

func TestQuantizer(t *testing.T) {
	for _, bits := range []int{0, -2, 17} {
		if _, err := Quantizer(bits); err == nil {
			t.Errorf("%d bits: no error", bits)
		}
	}
	if q, err := Quantizer(16); err != nil || q != nil {
		t.Errorf("16 bits: %v, %v; want no hook", q != nil, err)
	}
	// Hooked into the rollout, every fed latent lies on its own 2-bit grid.
	m := smallModel(t, false)
	rl, _, err := BuildRealigner(m, RealignOptions{Enabled: true, Lambda: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Quantizer(2)
	if err != nil {
		t.Fatal(err)
	}
	tr, plain := &Trace{}, &Trace{}
	ro := &Rollout{Model: m, Realign: rl, Steps: 3, Quantize: q}
	if err := ro.Run([]Agent{{Cache: m.NewCache(16), IDs: []int{5, 6, 7}, Trace: tr}}); err != nil {
		t.Fatal(err)
	}
	ro.Quantize = nil
	if err := ro.Run([]Agent{{Cache: m.NewCache(16), IDs: []int{5, 6, 7}, Trace: plain}}); err != nil {
		t.Fatal(err)
	}
	for s, e := range tr.LatentIn {
		levels := map[float32]bool{}
		for _, v := range e {
			levels[v] = true
		}
		if len(levels) > 4 {
			t.Errorf("step %d: %d distinct values fed at 2 bits", s, len(levels))
		}
	}
	// The first latent is the quantised version of the unquantised one.
	want := slices.Clone(plain.LatentIn[0])
	QuantizeMinMax(want, 2)
	if !slices.Equal(tr.LatentIn[0], want) {
		t.Error("the rollout did not feed the quantised latent")
	}
}
