package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// IOWorkers is how many goroutines a walk over files uses. Most of the work
// is system calls on files in the page cache, or waits on a disk: two
// workers per CPU (at least four) keep both busy; more only contend for the
// same directories and journal.
func IOWorkers() int { return min(max(2*runtime.GOMAXPROCS(0), 4), 16) }

// Group runs the steps of a walk over a directory tree on a bounded number
// of goroutines. A step that finds more work (a subdirectory) hands it to
// Go, which starts it on a free worker or, when every worker is busy, runs
// it on the calling goroutine: nesting never deadlocks, and the open
// directories stay bounded by the workers times the depth of the tree.
type Group struct {
	g      errgroup.Group
	mu     sync.Mutex
	err    error
	failed atomic.Bool
}

// NewGroup returns a Group of IOWorkers goroutines.
func NewGroup() *Group {
	g := &Group{}
	g.g.SetLimit(IOWorkers())
	return g
}

// Go runs f, on another goroutine when a worker is free. f is always
// called, even after a failure, so that it can release what it was handed
// (an open directory); it should then stop early (see Stopped). The first
// error is kept, and stops the other steps.
func (g *Group) Go(f func() error) {
	step := func() error {
		if err := f(); err != nil {
			g.mu.Lock()
			if g.err == nil {
				g.err = err
			}
			g.mu.Unlock()
			g.failed.Store(true)
		}
		return nil
	}
	if !g.g.TryGo(step) {
		step()
	}
}

// Stopped reports whether a step has failed, so that the others stop.
func (g *Group) Stopped() bool { return g.failed.Load() }

// Wait waits for every step, and returns the first error.
func (g *Group) Wait() error {
	g.g.Wait()
	return g.err
}

// Each runs f(i) for i in [0, n) on a Group and waits; it stops starting
// new steps after the first error, which it returns.
func Each(n int, f func(i int) error) error {
	g := NewGroup()
	for i := range n {
		if g.Stopped() {
			break
		}
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}
