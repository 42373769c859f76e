package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
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
// operation costs a few channel operations, not goroutine creation.
//
// A Pool runs one operation at a time: Run must not be called concurrently
// from several goroutines, nor from inside a Job.
type Pool struct {
	threads int
	wake    []chan struct{}
	done    sync.WaitGroup

	// The operation in flight, read by the workers after a wake-up.
	job   Job
	n     int
	grain int
	next  atomic.Int64

	fn funcJob   // reusable adapter for For
	mm matmulJob // reusable job for MatMul
}

// NewPool starts a pool of threads workers (the calling goroutine counts as
// one of them). threads ≤ 0 means runtime.NumCPU().
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	p := &Pool{threads: threads, wake: make([]chan struct{}, threads)}
	for w := 1; w < threads; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// Threads reports the number of workers, including the caller.
func (p *Pool) Threads() int { return p.threads }

// Close stops the worker goroutines. The pool must not be used afterwards.
func (p *Pool) Close() {
	for w := 1; w < p.threads; w++ {
		close(p.wake[w])
	}
}

func (p *Pool) worker(w int) {
	for range p.wake[w] {
		p.drain(w)
		p.done.Done()
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
	workers := min(p.threads, (n+grain-1)/grain)
	p.done.Add(workers - 1)
	for w := 1; w < workers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.drain(0)
	p.done.Wait()
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
