//go:build vulkan

package qwenvk

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

func smallModel(t testing.TB, typ string, dt tensor.DType) *qwen.Model {
	t.Helper()
	cfg := &qwen.Config{ModelType: typ, HiddenSize: 48, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 12,
		IntermediateSize: 40, VocabSize: 301, RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu"}
	if typ == "qwen2" {
		cfg.QKVBias = true
	} else {
		cfg.QKNorm, cfg.TieWordEmbeddings = true, true
	}
	m, err := qwen.New(cfg, qwen.RandomSource(cfg, dt, 0.3, 7), qwen.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	golden.Check(t, what, got, want, 1e-4, 1e-4)
}

func sameCaches(t *testing.T, what string, got, want *qwen.Cache, cfg *qwen.Config) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("%s: cache length %d, want %d", what, got.Len(), want.Len())
	}
	same(t, what+" kv", cacheKV(got, cfg), cacheKV(want, cfg))
}

// TestRaggedMatchesCPU runs the same sequence of calls on the CPU and on
// Vulkan — a ragged batch of ids and embeddings, decode steps, cache
// truncation, gathering, cloning and CPU forwards on a cache the device has
// mirrored — and compares every output and cache.
func TestRaggedMatchesCPU(t *testing.T) {
	d := testDevice(t)
	for _, typ := range []string{"qwen2", "qwen3"} {
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
			t.Run(fmt.Sprintf("%s/%v", typ, dt), func(t *testing.T) {
				m := smallModel(t, typ, dt)
				vm, err := New(m, d)
				if err != nil {
					t.Fatal(err)
				}
				defer vm.Close()
				D, V := m.Config.HiddenSize, m.Config.VocabSize
				r := rand.New(rand.NewPCG(1, 1))
				ids := func(n int) []int {
					v := make([]int, n)
					for i := range v {
						v[i] = r.IntN(V)
					}
					return v
				}
				emb := make([]float32, 3*D)
				for i := range emb {
					emb[i] = r.Float32()*2 - 1
				}
				cpu := []*qwen.Cache{m.NewCache(4), m.NewCache(4), m.NewCache(4)}
				gpu := []*qwen.Cache{m.NewCache(4), m.NewCache(4), m.NewCache(4)}
				step := func(name string, req qwen.Request, mk func(cs []*qwen.Cache) []qwen.Seq) {
					t.Helper()
					want, err := m.Forward(mk(cpu), req)
					if err != nil {
						t.Fatal(err)
					}
					wl, wh := append([]float32(nil), want.Logits...), append([]float32(nil), want.Hidden...)
					wp := append([]float32(nil), want.PreNorm...)
					got, err := vm.Forward(mk(gpu), req)
					if err != nil {
						t.Fatal(err)
					}
					same(t, name+" logits", got.Logits, wl)
					same(t, name+" hidden", got.Hidden, wh)
					same(t, name+" prenorm", got.PreNorm, wp)
					if fmt.Sprint(got.Starts) != fmt.Sprint(want.Starts) {
						t.Fatalf("%s: starts %v, want %v", name, got.Starts, want.Starts)
					}
					for i := range cpu {
						sameCaches(t, fmt.Sprintf("%s cache %d", name, i), gpu[i], cpu[i], m.Config)
					}
				}
				p0, p1, p2 := ids(5), ids(1), ids(17)
				step("prefill", qwen.Request{Logits: qwen.LogitsAll}, func(cs []*qwen.Cache) []qwen.Seq {
					return []qwen.Seq{{Cache: cs[0], IDs: p0}, {Cache: cs[1], IDs: p1}, {Cache: cs[2], IDs: p2}}
				})
				e := emb[:2*D]
				step("ragged ids+embeds", qwen.Request{Logits: qwen.LogitsLast}, func(cs []*qwen.Cache) []qwen.Seq {
					return []qwen.Seq{{Cache: cs[2], IDs: p1}, {Cache: cs[0], Embeds: e}}
				})
				for i := 0; i < 3; i++ {
					x := ids(3)
					step("decode", qwen.Request{Logits: qwen.LogitsLast}, func(cs []*qwen.Cache) []qwen.Seq {
						return []qwen.Seq{{Cache: cs[0], IDs: x[:1]}, {Cache: cs[1], IDs: x[1:2]}, {Cache: cs[2], IDs: x[2:]}}
					})
				}
				// Host-side edits the mirror must notice.
				for _, cs := range [][]*qwen.Cache{cpu, gpu} {
					cs[0].KeepLast(4)
					if err := cs[2].Gather([]int{0, 3, 5, 6, 2}); err != nil {
						t.Fatal(err)
					}
					cs[2].PosShift = 7
				}
				x := ids(2)
				step("after keep/gather", qwen.Request{Logits: qwen.LogitsAll}, func(cs []*qwen.Cache) []qwen.Seq {
					return []qwen.Seq{{Cache: cs[0], IDs: x}, {Cache: cs[2], IDs: x[:1]}}
				})
				// A CPU forward on a mirrored cache, and a clone.
				if _, err := m.Forward([]qwen.Seq{{Cache: gpu[1], IDs: p1}}, qwen.Request{}); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Forward([]qwen.Seq{{Cache: cpu[1], IDs: p1}}, qwen.Request{}); err != nil {
					t.Fatal(err)
				}
				cpu[0], gpu[0] = cpu[1].Clone(), gpu[1].Clone()
				// A same-length rewrite that keeps the first and last rows:
				// announced with Invalidate.
				for _, cs := range [][]*qwen.Cache{cpu, gpu} {
					n := cs[2].Len()
					idx := make([]int, n)
					for i := range idx {
						idx[i] = i
					}
					idx[1] = 2 // row 1 becomes a copy of row 2
					if err := cs[2].Gather(idx); err != nil {
						t.Fatal(err)
					}
				}
				vm.Invalidate(gpu[2])
				step("after cpu forward/clone/invalidate", qwen.Request{Logits: qwen.LogitsLast, HiddenStates: true}, func(cs []*qwen.Cache) []qwen.Seq {
					return []qwen.Seq{{Cache: cs[0], IDs: x[:1]}, {Cache: cs[1], Embeds: emb[2*D:]}, {Cache: cs[2], IDs: x}}
				})
			})
		}
	}
}

// TestHiddenStatesMatchCPU checks HF-style per-layer hidden states.
func TestHiddenStatesMatchCPU(t *testing.T) {
	d := testDevice(t)
	m := smallModel(t, "qwen3", tensor.BF16)
	vm, err := New(m, d)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	p := []int{1, 5, 9, 200, 300, 7}
	want, err := m.Forward([]qwen.Seq{{Cache: m.NewCache(8), IDs: p}}, qwen.Request{HiddenStates: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := vm.Forward([]qwen.Seq{{Cache: m.NewCache(8), IDs: p}}, qwen.Request{HiddenStates: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.HiddenStates) != len(want.HiddenStates) {
		t.Fatalf("%d hidden states, want %d", len(got.HiddenStates), len(want.HiddenStates))
	}
	for i := range want.HiddenStates {
		same(t, fmt.Sprintf("hidden state %d", i), got.HiddenStates[i], want.HiddenStates[i])
	}
	if _, err := vm.Forward([]qwen.Seq{{Cache: m.NewCache(1), IDs: []int{301}}}, qwen.Request{}); err == nil {
		t.Error("out-of-range id accepted")
	}
}

// TestOpenWithoutLoader runs Open in a child process whose loader cannot be
// found: "auto" falls back to the CPU with a one-line notice, "vulkan" and
// "vulkan:0" fail with a one-line error.
func TestOpenWithoutLoader(t *testing.T) {
	if spec := os.Getenv("QWENVK_OPEN_CHILD"); spec != "" {
		var notice strings.Builder
		d, err := Open(spec, &notice)
		fmt.Printf("device=%v err=%v notice=%q\n", d != nil, err, notice.String())
		return
	}
	empty := t.TempDir()
	for _, c := range []struct{ spec, want string }{
		{"auto", `device=false err=<nil> notice="latentmas: --device auto: vulkan: no Vulkan loader: cannot load libvulkan-absent.so.1`},
		{"vulkan", `device=false err=vulkan: no Vulkan loader: cannot load libvulkan-absent.so.1`},
		{"vulkan:0", `device=false err=vulkan: no Vulkan loader`},
		{"cpu", `device=false err=<nil> notice=""`},
		{"gpu", `device=false err=--device "gpu": want cpu, auto, vulkan or vulkan:N`},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOpenWithoutLoader$")
		cmd.Env = append(os.Environ(), "QWENVK_OPEN_CHILD="+c.spec, "LD_LIBRARY_PATH="+empty, "LATENTMAS_VULKAN_LOADER=libvulkan-absent.so.1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.spec, err, out)
		}
		line := strings.SplitN(string(out), "\n", 2)[0]
		if !strings.HasPrefix(line, c.want) {
			t.Errorf("--device %s:\n got %s\nwant prefix %s", c.spec, line, c.want)
		}
		if c.spec == "auto" && !strings.HasSuffix(line, `; using the CPU\n"`) {
			t.Errorf("--device auto: notice does not end in the fallback: %s", line)
		}
	}
}

// BenchmarkDecode is batch-1 decode on a random-weight model of a real
// Qwen shape (QWENVK_BENCH_SHAPE, default qwen3-0.6b, bf16 weights) at a
// short context, reporting tokens/s and the device.
func BenchmarkDecode(b *testing.B) {
	d := testDevice(b)
	shape := os.Getenv("QWENVK_BENCH_SHAPE")
	if shape == "" {
		shape = "qwen3-0.6b"
	}
	cfg, err := qwen.Shape(shape)
	if err != nil {
		b.Fatal(err)
	}
	m, err := qwen.NewRandom(cfg, tensor.BF16, 1, qwen.Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	t0 := time.Now()
	vm, err := New(m, d)
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	b.Logf("%s on %s: %.2f GB of weights uploaded in %v", shape, d.Info().Name, float64(vm.WeightBytes())/1e9, time.Since(t0).Round(time.Millisecond))
	c := m.NewCache(64)
	if _, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: []int{1, 2, 3, 4, 5, 6, 7, 8}}}, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c.Len() > 48 {
			c.KeepLast(8)
		}
		if _, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: []int{i % 1000}}}, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
	b.ReportMetric(float64(vm.WeightBytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

var _ = golden.Compare
