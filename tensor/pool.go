package tensor

import (
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
// spin on the operation counter for a while (spinWait) before they park,
// and the caller spins likewise while it waits for the last chunk.
//
// A Pool runs one operation at a time: Run must not be called concurrently
// from several goroutines, nor from inside a Job.
type Pool struct {
	threads int

	// The operation in flight, published by gen and read by the workers.
	job   Job
	n     int
	grain int
	next  atomic.Int64
	gen   atomic.Uint64 // incremented once per parallel operation
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
}

// spinWait is how long an idle worker, or the caller waiting for workers,
// polls before it parks.
const spinWait = 200 * time.Microsecond

// NewPool starts a pool of threads workers (the calling goroutine counts as
// one of them). threads ≤ 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads}
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

// spin polls cond until it is true or spinWait has passed; it reports
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
			} else if time.Since(t0) > spinWait {
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

// drain claims chunks of grain items until none are left.
func (p *Pool) drain(w int) {
	n, g := int64(p.n), int64(p.grain)
	for {
		lo := p.next.Add(g) - g
		if lo >= n {
			return
		}
		p.job.Run(w, int(lo), int(min(lo+g, n)))
	}
}

// Run splits [0, n) into chunks of grain items (the last may be shorter) and
// runs job on them across the workers; it returns when all are done. Which
// worker gets which chunk is not fixed, so a Job's result for an item must
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
	p.job, p.n, p.grain = job, n, grain
	p.next.Store(0)
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
