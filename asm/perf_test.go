package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestPerfReport measures the kernels against the machine limits with
// interleaved best-of rounds: each round measures the limit and then the
// kernel, and the best of each over the rounds is compared. On a machine
// shared with other work the best rounds are the quiet ones, so the ratio
// of the bests is far steadier than a single benchmark. Run with
// LATENTMAS_PERF=1 go test -run PerfReport -v ./asm.
func TestPerfReport(t *testing.T) {
	if os.Getenv("LATENTMAS_PERF") == "" {
		t.Skip("set LATENTMAS_PERF=1")
	}
	rounds := 15
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// timeIt returns the seconds f takes: thread CPU time on one thread,
	// wall time on two.
	timeIt := func(threads int, f func()) float64 {
		if threads == 1 {
			t0 := threadTime()
			f()
			return threadTime() - t0
		}
		t0 := time.Now()
		f()
		return time.Since(t0).Seconds()
	}
	buf := make([]float32, 256<<20/4)
	for i := range buf {
		buf[i] = 1
	}
	fmt.Printf("level %s\n", Dispatch())
	for _, th := range []int{1, 2} {
		for _, c := range []struct {
			dtype string
			n, kk int
		}{{"bf16", 3072, 1024}, {"bf16", 4864, 896}, {"bf16", 151936, 1024}, {"f16", 3072, 1024}, {"f32", 3072, 1024}, {"f32", 4864, 896}} {
			per := c.n * c.kk
			w := newBenchW(c.dtype, max(per, 256<<20/(2*per)*per))
			copies := max(1, len(w.u16)/per+len(w.f32)/per)
			x := randF32(rand.New(rand.NewPCG(2, 2)), c.kk, 1)
			y := make([]float32, c.n)
			var bw, rate float64
			for r := 0; r < rounds; r++ {
				var sink float32
				bw = math.Max(bw, float64(len(buf)*4)/timeIt(th, func() {
					split(th, len(buf), func(r0, r1 int) { sink += cur.sumSqF32(buf[r0:r1]) })
				})/1e9)
				rate = math.Max(rate, float64(copies*per*w.bytesPerElem())/timeIt(th, func() {
					for i := 0; i < copies; i++ {
						split(th, c.n, func(r0, r1 int) { w.mm(y, x, nil, 1, c.n, c.kk, i*per, r0, r1) })
					}
				})/1e9)
			}
			fmt.Printf("matvec %-5s n=%-6d k=%d threads=%d: %5.1f GB/s of %5.1f GB/s read = %.2f\n",
				c.dtype, c.n, c.kk, th, rate, bw, rate/bw)
		}
	}
	// Batched decode: a few rows of activations over weights from DRAM.
	for _, m := range []int{2, 4, 8, 16, 32} {
		n, kk := 3072, 1024
		per := n * kk
		w := newBenchW("bf16", 256<<20/(2*per)*per)
		copies := len(w.u16) / per
		x := randF32(rand.New(rand.NewPCG(2, 2)), m*kk, 1)
		y := make([]float32, m*n)
		var bw, rate float64
		for r := 0; r < rounds; r++ {
			var sink float32
			bw = math.Max(bw, float64(len(buf)*4)/timeIt(1, func() { sink += cur.sumSqF32(buf) })/1e9)
			rate = math.Max(rate, float64(copies*per*2)/timeIt(1, func() {
				for i := 0; i < copies; i++ {
					w.mm(y, x, nil, m, n, kk, i*per, 0, n)
				}
			})/1e9)
		}
		fmt.Printf("batched bf16 m=%d n=%d k=%d threads=1: %5.1f GB/s of weights (%.0f GFLOP/s) of %5.1f GB/s read = %.2f\n",
			m, n, kk, rate, rate/2*2*float64(m), bw, rate/bw)
	}
	for _, th := range []int{1, 2} {
		for _, dtype := range []string{"f32", "bf16", "f16", "bf16bf16"} {
			// The last shape is Qwen2.5-0.5B's down projection: its k is
			// split into parts whose x tiles fit L1.
			for _, sh := range [][3]int{{128, 3072, 1024}, {512, 3072, 1024}, {512, 896, 4864}} {
				m, n, kk := sh[0], sh[1], sh[2]
				w := newBenchW(dtype, n*kk)
				x := randF32(rand.New(rand.NewPCG(2, 2)), m*kk, 1)
				xb := toBF16(x)
				y := make([]float32, m*n)
				var peak, rate float64
				for r := 0; r < rounds; r++ {
					loop, flops := cur.peakFMA, cur.peakFlops
					if dtype == "bf16bf16" {
						loop, flops = cur.peakDP, cur.peakDPFlops
					}
					if loop != nil {
						const iters = 1 << 20
						peak = math.Max(peak, float64(th)*iters*flops/timeIt(th, func() {
							split(th, th*16, func(int, int) { loop(iters) })
						})/1e9)
					}
					rate = math.Max(rate, 2*float64(m*n*kk)/timeIt(th, func() {
						split(th, n, func(r0, r1 int) { w.mm(y, x, xb, m, n, kk, 0, r0, r1) })
					})/1e9)
				}
				fmt.Printf("matmul %-8s m=%-3d n=%-4d k=%-4d threads=%d: %5.0f GFLOP/s of %5.0f peak = %.2f\n",
					dtype, m, n, kk, th, rate, peak, rate/peak)
			}
		}
	}
}
