package tensor

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Job is a unit of parallel work: Run processes items [lo, hi) on worker
// number worker (0 ≤ worker < Pool.Threads()), so a job can keep per-worker
// scratch space. Implementations are usually pointers to structs that live
// as long as the Pool or the model, so dispatching one allocates nothing.
type Job interface {
	Run(worker, lo, hi int)
}

// Pool is a persistent set of worker goroutines that split a range of items
// (usually output rows) between them. Goroutines are started once; a parallel
// operation costs a few atomic operations, not goroutine creation.
//
// A decode step is a few hundred short parallel operations (each matrix of
// each layer), separated by a little serial work. Waking a parked goroutine
// takes tens of microseconds (a futex round trip), which at that rate left
// the second core idle a fifth of the time. So between operations workers
// spin on the operation counter for a while (SpinWait) before they park,
// and the caller spins likewise while it waits for the last chunk.
//
// A Pool runs one operation at a time: Run must not be called concurrently
// from several goroutines, nor from inside a Job.
type Pool struct {
	threads int

	// The operation in flight, published by gen and read by the workers.
	job   Job
	grain int
	// Each worker owns a contiguous share of the items (ranges[w]), takes
	// its chunks from the front of it and, when it is empty, steals from
	// the back of the others'. A worker thus walks its weight rows in
	// memory order, so the hardware and the kernels' next-tile prefetches
	// run on across its chunks (a shared counter dealt the chunks out
	// alternately: decode matrices 1–6% faster at the best, 2–11% on
	// average, on a loud 2-core host), and one that falls behind is
	// helped from the end of its share.
	ranges []ownedRange
	gen    atomic.Uint64 // incremented once per parallel operation
	// Workers still busy with the current operation.
	pending atomic.Int32

	closed atomic.Bool
	// Parking, once spinning stops: workers wait on start for gen to
	// change, the caller on done for pending to reach 0. Both predicates
	// are checked under mu and gen only changes under mu, so no wake-up
	// is lost and a late signal from a previous operation does not count.
	mu    sync.Mutex
	start *sync.Cond
	done  *sync.Cond

	fn    funcJob   // reusable adapter for For
	mm    matmulJob // reusable job for the products of a prefill
	multi multiJob  // reusable job for the products of a decode step
	cv    bf16Job   // reusable job for ToBF16
	ew1   ewJob     // reusable job for the element-wise operations
	rope  ropeJob   // reusable job for Rope
}

// ownedRange is a worker's share [lo, hi) of the items of an operation,
// lo in the high 32 bits of v, on its own cache line: the owner moves lo
// up, thieves move hi down, both by compare-and-swap.
type ownedRange struct {
	v atomic.Uint64
	_ [56]byte
}

// take claims items from the front (the owner) or the back (a thief) of
// the range: an eighth of what is left (claimDiv), in whole multiples of g,
// at least g; ok is false once it is empty.
func (r *ownedRange) take(g uint64, front bool) (lo, hi int, ok bool) {
	for {
		v := r.v.Load()
		a, b := v>>32, v&0xffffffff
		if a >= b {
			return 0, 0, false
		}
		c := max(g, (b-a)/claimDiv/g*g)
		if front {
			e := min(a+c, b)
			if r.v.CompareAndSwap(v, e<<32|b) {
				return int(a), int(e), true
			}
		} else {
			// On the owner's grid (a moves by multiples of g), so
			// chunks stay aligned and only the one at n is short.
			s := a
			if b-a > c {
				s = a + (b-a-c+g-1)/g*g
			}
			if r.v.CompareAndSwap(v, a<<32|s) {
				return int(s), int(b), true
			}
		}
	}
}

// claimDiv sets a claim to 1/claimDiv of a range's remaining items. Claims
// thus shrink towards g as a range empties: few calls while there is much
// to do, and at the end of an operation a worker waits at most for a small
// chunk of another's. Fixed chunks of an eighth of the items (a decode
// matrix's rows) kept each thread of two waiting 3.3–3.5 ms a token (7%)
// for the other's last chunk, under 1 ms with shrinking claims of 16-row
// slabs: Qwen2.5-0.5B decode, 2 threads, 40 alternating in-process pairs
// on a loud host, 20.1 → 20.8 tok/s (float32 weights, 26 of 40) and
// 37.2 → 37.9 (bf16 compute, 24 of 40); prefill-512 462 → 468 (8 of 12).
const claimDiv = 8

// SpinWait is how long an idle worker, or the caller waiting for workers,
// polls before it parks. 200 µs parked a worker about once a decode token
// (the serial work between tokens: argmax, embedding) and the caller every
// other one (the worker's virtual CPU descheduled by the host), and on a
// virtual machine a parked thread's vCPU halts, so its wake-up waits for the
// host to run it again: Qwen2.5-0.5B decode, 2 threads, alternating A/B on a
// loud host, 29.0 → 32.0 tok/s (bf16 compute, 8 of 11 pairs), 27.5 → 30.4
// (float32), Qwen3-0.6B 24.4 → 27.3; parks a token 0.9–1.6 → under 0.1
// (worker), 0.5–0.7 → under 0.15 (caller). 20 ms gained no more. An idle
// pool so burns at most 2 ms of CPU a worker before it sleeps.
const SpinWait = 2 * time.Millisecond

// NewPool starts a pool of threads workers (the calling goroutine counts as
// one of them). threads ≤ 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads, ranges: make([]ownedRange, threads)}
	p.start, p.done = sync.NewCond(&p.mu), sync.NewCond(&p.mu)
	for w := 1; w < threads; w++ {
		go p.worker(w)
	}
	return p
}

// Threads reports the number of workers, including the caller.
func (p *Pool) Threads() int { return p.threads }

// Close stops the worker goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	p.gen.Add(1)
	p.start.Broadcast()
	p.mu.Unlock()
}

// spin polls cond until it is true or SpinWait has passed; it reports
// whether cond became true.
func spin(cond func() bool) bool {
	var t0 time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i%256 == 255 {
			// Let a goroutine waiting for this P run: with fewer Ps than
			// workers, the one being waited for may be it.
			runtime.Gosched()
			if t0.IsZero() {
				t0 = time.Now()
			} else if time.Since(t0) > SpinWait {
				return false
			}
		}
	}
}

func (p *Pool) worker(w int) {
	var seen uint64 // gen starts at 0; Run may have begun before this goroutine
	for {
		if !spin(func() bool { return p.gen.Load() != seen }) {
			p.mu.Lock()
			for p.gen.Load() == seen {
				p.start.Wait()
			}
			p.mu.Unlock()
		}
		if p.closed.Load() {
			return
		}
		seen = p.gen.Load()
		p.drain(w)
		if p.pending.Add(-1) == 0 {
			p.mu.Lock()
			p.done.Signal()
			p.mu.Unlock()
		}
	}
}

// drain runs worker w's share of the items, then helps the others with
// theirs until none are left.
func (p *Pool) drain(w int) {
	g := uint64(p.grain)
	for {
		lo, hi, ok := p.ranges[w].take(g, true)
		if !ok {
			break
		}
		p.job.Run(w, lo, hi)
	}
	for i := 1; i < p.threads; i++ {
		r := &p.ranges[(w+i)%p.threads]
		for {
			lo, hi, ok := r.take(g, false)
			if !ok {
				break
			}
			p.job.Run(w, lo, hi)
		}
	}
}

// Run splits [0, n) into chunks of whole multiples of grain items (the last
// may be shorter; see claimDiv) and runs job on them across the workers; it
// returns when all are done. Each worker starts on its own contiguous share
// of the chunks, but which worker
// runs which chunk is not fixed, so a Job's result for an item must
// not depend on the worker or on the chunk boundaries.
func (p *Pool) Run(n, grain int, job Job) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	if p.threads == 1 || n <= grain {
		job.Run(0, 0, n)
		return
	}
	if n > math.MaxUint32 {
		panic("tensor: Pool.Run over more than 2³²−1 items")
	}
	p.job, p.grain = job, grain
	// Whole chunks, as evenly as they go.
	chunks := (n + grain - 1) / grain
	for w := range p.ranges {
		lo := min(n, w*chunks/p.threads*grain)
		hi := min(n, (w+1)*chunks/p.threads*grain)
		p.ranges[w].v.Store(uint64(lo)<<32 | uint64(hi))
	}
	p.pending.Store(int32(p.threads - 1))
	p.mu.Lock()
	p.gen.Add(1) // publishes the fields above to the workers
	p.start.Broadcast()
	p.mu.Unlock()
	p.drain(0)
	if !spin(func() bool { return p.pending.Load() == 0 }) {
		p.mu.Lock()
		for p.pending.Load() != 0 {
			p.done.Wait()
		}
		p.mu.Unlock()
	}
	p.job = nil
}

// Grain picks a chunk size for n items so that each worker gets several
// chunks (for balance) of at least min items, rounded up to a multiple of
// align.
func (p *Pool) Grain(n, minItems, align int) int {
	g := n / (p.threads * 4)
	g = max(g, minItems, 1)
	if align > 1 {
		g = (g + align - 1) / align * align
	}
	return g
}

type funcJob struct{ f func(worker, lo, hi int) }

func (j *funcJob) Run(worker, lo, hi int) { j.f(worker, lo, hi) }

// For is Run with a function instead of a Job. The closure may allocate; use
// Run with a reusable Job in per-token paths.
func (p *Pool) For(n, grain int, f func(worker, lo, hi int)) {
	p.fn.f = f
	p.Run(n, grain, &p.fn)
	p.fn.f = nil
}
