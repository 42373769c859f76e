package asm

import (
	"math"
	"runtime"
	"sync"
	"time"
)

// MeasureReadBandwidth returns the memory read bandwidth in GB/s (1e9
// bytes per second) that `threads` goroutines reach together when each
// reads its share of a float32 buffer of `bytes` bytes once, in the faster
// of two patterns: one stream (the current level's sum-of-squares kernel)
// and a float32 matrix-vector product over the share as rows of 1024 (the
// level's own decode pattern: a row at a time on AVX-512). On a virtual
// machine sharing its memory system, the matrix pattern (then 16 rows at
// once) often got more than one stream did, so a one-stream figure alone
// understated the limit the matrix kernels are measured against. bytes <=
// 0 means 256 MiB; it should be well above the last-level cache. The best
// of several passes is returned, so the result is the bandwidth available
// now: it drops while other processes load the memory system, which is why
// benchmarks measure it in the same run. The buffer is allocated per call;
// MeasureReadBandwidthIn reuses one.
func MeasureReadBandwidth(threads int, bytes int) float64 {
	if bytes <= 0 {
		bytes = 256 << 20
	}
	buf := make([]float32, bytes/4)
	for i := range buf {
		buf[i] = 1
	}
	return MeasureReadBandwidthIn(threads, buf)
}

// MeasureReadBandwidthIn is MeasureReadBandwidth over buf, which the caller
// keeps for repeated measurements (its values do not matter).
func MeasureReadBandwidthIn(threads int, buf []float32) float64 {
	return MeasureReadBandwidthOver(threads, [][]float32{buf})
}

// MeasureReadBandwidthOver is MeasureReadBandwidth over memory the caller
// already holds: regions, taken in order as one sequence and cut into one
// contiguous share a thread. Their values do not matter but are read as
// float32 (bfloat16 or float16 data may be passed reinterpreted), so a
// benchmark can measure the bandwidth of the very pages it reads, such as
// a model's weights: a separate buffer costs memory, and a host that
// overcommits its memory pages the least recently touched out, the
// weights included, once a half-gigabyte buffer has been read between
// decode tokens. The matrix-vector pattern reads each piece's whole rows
// of 1024 values; a tail shorter than a row is read by the stream alone.
// It returns 0 if the regions hold less than a row a thread.
func MeasureReadBandwidthOver(threads int, regions [][]float32) float64 {
	return measureOver(threads, regions, 5)
}

// splitShares cuts the concatenation of regions into threads shares of
// the same whole number of rows of bwRow values (the rest is left out) and
// returns each share as its pieces, in order; nil if a share would be empty.
func splitShares(threads int, regions [][]float32) [][][]float32 {
	total := 0
	for _, r := range regions {
		total += len(r)
	}
	share := total / threads / bwRow * bwRow
	if share == 0 {
		return nil
	}
	pieces := make([][][]float32, threads)
	t, room := 0, share
	for _, r := range regions {
		for len(r) > 0 && t < threads {
			n := min(len(r), room)
			pieces[t] = append(pieces[t], r[:n])
			r, room = r[n:], room-n
			if room == 0 {
				t, room = t+1, share
			}
		}
	}
	return pieces
}

// MeasureReadBandwidthOnce is MeasureReadBandwidthOver from one pass of
// each pattern instead of the best of five: the bandwidth of one moment,
// for a comparison with work timed once at the moment next to it.
func MeasureReadBandwidthOnce(threads int, regions [][]float32) float64 {
	return measureOver(threads, regions, 1)
}

func measureOver(threads int, regions [][]float32, reps int) float64 {
	pieces := splitShares(max(threads, 1), regions)
	if pieces == nil {
		return 0
	}
	return measureRead(pieces, reps)
}

// bwRow is the row length, in float32 values, of measureRead's
// matrix-vector pattern.
const bwRow = 1024

// measureRead returns the faster of the stream and the matrix-vector
// pattern over the threads' pieces, the best of reps passes each.
func measureRead(pieces [][][]float32, reps int) float64 {
	threads := len(pieces)
	sink := make([]float32, threads)
	k := cur.sumSqF32
	one := runParallel(threads, reps, func(i int) {
		for _, p := range pieces[i] {
			sink[i] += k(p)
		}
	})
	all := 0
	for _, ps := range pieces {
		for _, p := range ps {
			all += len(p)
		}
	}
	if cur.name == "generic" {
		// Pure Go is compute bound here; it would only take long.
		return float64(all*4) / one / 1e9
	}
	x := make([]float32, bwRow)
	ys := make([][]float32, threads)
	rowsAll := 0
	for i, ps := range pieces {
		most := 0
		for _, p := range ps {
			most = max(most, len(p)/bwRow)
			rowsAll += len(p) / bwRow
		}
		ys[i] = make([]float32, most)
	}
	many := runParallel(threads, reps, func(i int) {
		for _, p := range pieces[i] {
			if rows := len(p) / bwRow; rows > 0 {
				cur.matMulF32(ys[i], rows, x, bwRow, p, bwRow, 1, rows, bwRow)
			}
		}
	})
	return max(float64(all*4)/one, float64(rowsAll*bwRow*4)/many) / 1e9
}

// MeasurePeakFMA returns the float32 fused multiply-add throughput in
// GFLOP/s (2 flops per lane) of `threads` goroutines each running a
// register-only loop of the current level's widest FMA (12 independent
// accumulators).
func MeasurePeakFMA(threads int) float64 {
	return measurePeak(threads, cur.peakFMA, cur.peakFlops)
}

// MeasurePeakBF16 is MeasurePeakFMA for VDPBF16PS (4 flops per float32
// lane: two bf16 products and their sums). It returns 0 unless the current
// level is "avx512bf16".
func MeasurePeakBF16(threads int) float64 {
	return measurePeak(threads, cur.peakDP, cur.peakDPFlops)
}

func measurePeak(threads int, loop func(uintptr), flops float64) float64 {
	if loop == nil {
		return 0
	}
	if threads < 1 {
		threads = 1
	}
	// Calibrate to ~30 ms per pass on one thread.
	n := uintptr(1 << 12)
	for {
		t := time.Now()
		loop(n)
		if d := time.Since(t); d > 3*time.Millisecond || n > 1<<30 {
			n = uintptr(float64(n) * 30e-3 / d.Seconds())
			break
		}
		n *= 4
	}
	best := runParallel(threads, 5, func(int) { loop(n) })
	return float64(threads) * float64(n) * flops / best / 1e9
}

// runParallel starts f(i) on `threads` OS-thread-locked goroutines at once,
// reps times, and returns the shortest wall time of a rep in seconds.
func runParallel(threads, reps int, f func(i int)) float64 {
	best := math.Inf(1)
	for r := 0; r < reps; r++ {
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		ready.Add(threads)
		done.Add(threads)
		for i := 0; i < threads; i++ {
			go func(i int) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				ready.Done()
				<-start
				f(i)
				done.Done()
			}(i)
		}
		ready.Wait()
		t := time.Now()
		close(start)
		done.Wait()
		best = math.Min(best, time.Since(t).Seconds())
	}
	return best
}

func sumSqF32Generic(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v * v
	}
	return s
}

const peakGenericFlops = 8 * 2

// peakFMAGeneric is a scalar stand-in for the generic level: 8 chains.
func peakFMAGeneric(n uintptr) {
	var a [8]float32
	for i := uintptr(0); i < n; i++ {
		for j := range a {
			a[j] = a[j]*0.999 + 1
		}
	}
	peakSink = a[0] + a[7]
}

var peakSink float32
