// Package parallel is the one place immich-render runs work concurrently:
// ForEach runs n independent jobs (validating and rendering the hosts of a
// fleet; a site is a fleet of one) with a per-worker index, and Group runs
// the nested steps of a walk over files (writing, scanning, hashing).
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns how many goroutines run n jobs when asked for want
// (zero or less: GOMAXPROCS): at least one, at most n.
func Workers(want, n int) int {
	if want <= 0 {
		want = runtime.GOMAXPROCS(0)
	}
	return max(1, min(want, n))
}

// ForEach calls fn(worker, i) for every i in [0, n), on Workers(workers, n)
// goroutines; worker is the goroutine's index, for state kept per worker
// (such as a CUE context, which is not safe for concurrent use). Jobs are
// taken in order. done, when not nil, is called after each job with the
// number finished. ForEach returns when every job has.
func ForEach(n, workers int, fn func(worker, i int), done func(finished int)) {
	if n == 0 {
		return
	}
	w := Workers(workers, n)
	var next, finished atomic.Int64
	var wg sync.WaitGroup
	for k := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(k, i)
				if done != nil {
					done(int(finished.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
}
