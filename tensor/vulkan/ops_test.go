//go:build vulkan

package vulkan

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/latentmas/latentmas/tensor"
)

// testDevice opens the default device once for the package's tests. Without
// a loader or device the tests skip, unless LATENTMAS_VULKAN_REQUIRED=1 (CI
// sets it, so a missing driver fails there).
func testDevice(t testing.TB) *Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = Open(-1) })
	if devErr != nil {
		if os.Getenv("LATENTMAS_VULKAN_REQUIRED") == "" && (errors.Is(devErr, ErrNoLoader) || errors.Is(devErr, ErrNoDevice)) {
			t.Skip(devErr)
		}
		t.Fatal(devErr)
	}
	return dev
}

var (
	devOnce onceT
	dev     *Device
	devErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		dev.Close()
	}
	os.Exit(code)
}

func TestDevices(t *testing.T) {
	d := testDevice(t)
	infos, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		t.Logf("%v  maxStorageBufferRange=%d shared=%d wg=%d", in, in.MaxStorageBufferRange, in.MaxComputeSharedMemory, in.MaxWorkGroupInvocations)
	}
	t.Logf("opened %v (mappable=%v)", d.Info(), d.Mappable())
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

func randMat(r *rand.Rand, dt tensor.DType, rows, cols int) *tensor.Mat {
	m := &tensor.Mat{DType: dt, Rows: rows, Cols: cols}
	v := randVec(r, rows*cols, 1)
	switch dt {
	case tensor.F32:
		m.F32 = v
	case tensor.BF16:
		m.U16 = make([]uint16, len(v))
		for i, x := range v {
			m.U16[i] = uint16(math.Float32bits(x) >> 16)
		}
	case tensor.F16:
		m.U16 = make([]uint16, len(v))
		for i, x := range v {
			m.U16[i] = f16(x)
		}
	}
	return m
}

// f16 converts by truncation (values in [-1, 1], normal range).
func f16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	if exp <= 0 {
		return sign
	}
	return sign | uint16(exp)<<10 | uint16((b&0x7fffff)>>13)
}

func upload(t testing.TB, d *Device, v []float32) *Buffer {
	t.Helper()
	b, err := d.UploadF32(v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Free)
	return b
}

func download(t testing.TB, b *Buffer, off, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := b.ReadF32(off, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func run(t testing.TB, s *Stream) {
	t.Helper()
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
}

func near(t *testing.T, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= atol+rtol*math.Abs(float64(want[i]))) {
			t.Fatalf("%s: [%d] = %g, want %g (|diff| %.3g)", what, i, got[i], want[i], d)
		}
	}
}

func TestMatMul(t *testing.T) {
	d := testDevice(t)
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	defer func(v bool) { d.TiledMatMul = v }(d.TiledMatMul)
	for _, tiled := range []bool{false, true} {
		d.TiledMatMul = tiled
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
			for _, sz := range [][3]int{{1, 1, 1}, {1, 7, 13}, {3, 33, 65}, {8, 129, 31}, {9, 17, 70}, {17, 45, 129}, {40, 100, 257}, {2, 70000, 3}} {
				m, n, k := sz[0], sz[1], sz[2]
				w := randMat(r, dt, n, k)
				x := randVec(r, m*k, 1)
				bias := randVec(r, n, 1)
				want := make([]float32, m*n)
				tensor.MatMulRef(want, x, m, w)
				dw, err := d.UploadMat(w)
				if err != nil {
					t.Fatal(err)
				}
				// x and y at odd offsets, y pre-filled to test accumulate.
				xb := upload(t, d, append(make([]float32, 3), x...))
				y0 := randVec(r, m*n, 1)
				yb := upload(t, d, append(make([]float32, 5), y0...))
				bb := upload(t, d, append(make([]float32, 2), bias...))
				s.MatMul(yb, 5, xb, 3, m, dw, nil, 0, false)
				run(t, s)
				tol := 1e-5 * math.Sqrt(float64(k))
				near(t, dt.String()+" matmul", download(t, yb, 5, m*n), want, tol, 1e-5)
				s.MatMul(yb, 5, xb, 3, m, dw, bb, 2, true)
				run(t, s)
				for i := range want {
					want[i] = want[i] + want[i] + bias[i%n]
				}
				near(t, dt.String()+" matmul accumulate+bias", download(t, yb, 5, m*n), want, 2*tol, 1e-5)
				dw.Free()
			}
		}
	}
}

func TestRMSNormRopeSiLUCopy(t *testing.T) {
	d := testDevice(t)
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(3, 4))
	for _, dim := range []int{1, 7, 64, 130, 1025} {
		rows := 5
		x := randVec(r, rows*dim, 3)
		w := randVec(r, dim, 1)
		xb := upload(t, d, append(make([]float32, 1), x...))
		wb := upload(t, d, w)
		yb := upload(t, d, make([]float32, rows*dim+4))
		s.RMSNorm(yb, 4, xb, 1, rows, dim, wb, 0, 1e-6)
		run(t, s)
		var want []float32
		for i := 0; i < rows; i++ {
			want = append(want, tensor.RMSNormRef(x[i*dim:(i+1)*dim], w, 1e-6)...)
		}
		near(t, "rmsnorm", download(t, yb, 4, rows*dim), want, 1e-6, 1e-5)
		// in place
		s.RMSNorm(xb, 1, xb, 1, rows, dim, wb, 0, 1e-6)
		run(t, s)
		near(t, "rmsnorm in place", download(t, xb, 1, rows*dim), want, 1e-6, 1e-5)
	}
	// RoPE: T rows of a [T, stride] matrix, heads of hd.
	for _, c := range [][3]int{{1, 1, 2}, {3, 5, 6}, {7, 2, 128}} {
		T, heads, hd := c[0], c[1], c[2]
		stride := heads*hd + 3
		x := randVec(r, T*stride, 2)
		rope := tensor.NewRope(hd, 1e6)
		half := hd / 2
		cs, sn := make([]float32, T*half), make([]float32, T*half)
		for i := 0; i < T; i++ {
			rope.Table(100+i, cs[i*half:(i+1)*half], sn[i*half:(i+1)*half])
		}
		xb := upload(t, d, x)
		tb := upload(t, d, append(append([]float32(nil), cs...), sn...))
		s.Rope(xb, 0, T, heads, hd, stride, tb, T*half)
		run(t, s)
		want := append([]float32(nil), x...)
		for i := 0; i < T; i++ {
			tensor.ApplyRope(want[i*stride:i*stride+heads*hd], heads, hd, cs[i*half:(i+1)*half], sn[i*half:(i+1)*half])
		}
		near(t, "rope", download(t, xb, 0, T*stride), want, 1e-6, 1e-6)
	}
	for _, n := range []int{1, 63, 65, 1000, 300001} {
		g, u := randVec(r, n, 8), randVec(r, n, 2)
		gb, ub := upload(t, d, append(make([]float32, 2), g...)), upload(t, d, u)
		s.SiLUMul(gb, 2, ub, 0, n)
		run(t, s)
		want := append([]float32(nil), g...)
		tensor.SiLUMul(want, u)
		near(t, "silumul", download(t, gb, 2, n), want, 1e-6, 1e-6)
		cb := upload(t, d, make([]float32, n+9))
		s.CopyF32(cb, 9, ub, 0, n)
		run(t, s)
		near(t, "copy", download(t, cb, 9, n), u, 0, 0)
	}
}

func TestAttention(t *testing.T) {
	d := testDevice(t)
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range [][5]int{{1, 0, 1, 1, 2}, {1, 9, 4, 2, 6}, {5, 0, 6, 3, 8}, {3, 70, 16, 8, 128}, {2, 200, 14, 2, 64}} {
		n, past, H, KVH, hd := c[0], c[1], c[2], c[3], c[4]
		ctx := past + n
		q := randVec(r, n*H*hd, 1)
		k := randVec(r, ctx*KVH*hd, 1)
		v := randVec(r, ctx*KVH*hd, 1)
		want := make([]float32, n*H*hd)
		tensor.AttentionRef(tensor.AttnSeg{Q: q, Out: want, K: k, V: v, N: n, Past: past}, H, KVH, hd)
		// K and V in one buffer at odd offsets, q and out at offsets.
		kvOff, vOff := 3, 3+len(k)+5
		kv := make([]float32, vOff+len(v))
		copy(kv[kvOff:], k)
		copy(kv[vOff:], v)
		qb, kvb := upload(t, d, append(make([]float32, 7), q...)), upload(t, d, kv)
		ob := upload(t, d, make([]float32, 11+n*H*hd))
		sb := upload(t, d, make([]float32, AttentionScratch(n, past, H)))
		s.Attention(AttnArgs{Q: qb, KV: kvb, Out: ob, Scratch: sb, QOff: 7, KOff: kvOff, VOff: vOff, OOff: 11, N: n, Past: past, H: H, KVH: KVH, HD: hd})
		run(t, s)
		near(t, "attention", download(t, ob, 11, n*H*hd), want, 1e-5, 1e-5)
	}
}

// TestMatMulSlabs uploads matrices in several slabs (as a large embedding is
// on lavapipe) by pretending the storage-buffer range is small.
func TestMatMulSlabs(t *testing.T) {
	d := testDevice(t)
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(7, 8))
	saved := d.info.MaxStorageBufferRange
	defer func() { d.info.MaxStorageBufferRange = saved }()
	for _, m := range []int{1, 5, 20} {
		n, k := 37, 19
		w := randMat(r, tensor.BF16, n, k)
		d.info.MaxStorageBufferRange = 16 + 5*uint32(k)*2 // 5 rows per slab
		dw, err := d.UploadMat(w)
		d.info.MaxStorageBufferRange = saved
		if err != nil {
			t.Fatal(err)
		}
		if len(dw.Slabs) != 8 {
			t.Fatalf("%d slabs, want 8", len(dw.Slabs))
		}
		x, bias := randVec(r, m*k, 1), randVec(r, n, 1)
		want := make([]float32, m*n)
		tensor.MatMulRef(want, x, m, w)
		for i := range want {
			want[i] += bias[i%n]
		}
		xb, yb, bb := upload(t, d, x), upload(t, d, make([]float32, m*n)), upload(t, d, bias)
		s.MatMul(yb, 0, xb, 0, m, dw, bb, 0, false)
		run(t, s)
		near(t, "slabbed matmul", download(t, yb, 0, m*n), want, 1e-5, 1e-5)
		dw.Free()
	}
}
