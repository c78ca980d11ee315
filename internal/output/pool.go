package output

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool runs the steps of a walk over a directory tree on a bounded number
// of goroutines. A step that finds more work (a subdirectory) hands it to
// run, which starts it on a free worker or, when every worker is busy,
// runs it on the calling goroutine: nesting never deadlocks, and the open
// directories stay bounded by the workers times the depth of the tree.
//
// Most of the work is system calls on files that are in the page cache, or
// waits on a disk; two workers per CPU (at least four) keep
// both busy; more only contend for the same directories and journal.
type pool struct {
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	failed atomic.Bool
}

func newPool() *pool {
	return &pool{sem: make(chan struct{}, min(max(2*runtime.GOMAXPROCS(0), 4), 16))}
}

// run runs f, on another goroutine when a worker is free. f is always
// called, even after a failure, so that it can release what it was
// handed (an open directory); it should then stop early (see stopped).
// The first error is kept, and stops the other steps.
func (p *pool) run(f func() error) {
	select {
	case p.sem <- struct{}{}:
		p.wg.Add(1)
		go func() {
			defer func() {
				<-p.sem
				p.wg.Done()
			}()
			p.do(f)
		}()
	default:
		p.do(f)
	}
}

func (p *pool) do(f func() error) {
	if err := f(); err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
		p.failed.Store(true)
	}
}

// stopped reports whether a step has failed, so that the others stop.
func (p *pool) stopped() bool { return p.failed.Load() }

// wait waits for every step, and returns the first error.
func (p *pool) wait() error {
	p.wg.Wait()
	return p.err
}

// forEach runs f(i) for i in [0, n) on the pool and waits.
func forEach(n int, f func(i int) error) error {
	p := newPool()
	for i := range n {
		if p.stopped() {
			break
		}
		p.run(func() error { return f(i) })
	}
	return p.wait()
}
