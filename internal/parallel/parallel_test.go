package parallel

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestForEachRunsEveryJobOnceWithinTheWorkerBound(t *testing.T) {
	for _, tc := range []struct{ n, workers, wantWorkers int }{
		{0, 4, 1}, {1, 4, 1}, {10, 3, 3}, {3, 10, 3}, {100, 0, Workers(0, 100)},
	} {
		var seen = make([]atomic.Int32, tc.n)
		var mu sync.Mutex
		used := map[int]bool{}
		var last int
		ForEach(tc.n, tc.workers, func(w, i int) {
			seen[i].Add(1)
			mu.Lock()
			used[w] = true
			mu.Unlock()
		}, func(f int) {
			mu.Lock()
			last = max(last, f)
			mu.Unlock()
		})
		for i := range seen {
			if got := seen[i].Load(); got != 1 {
				t.Errorf("n=%d workers=%d: job %d ran %d times", tc.n, tc.workers, i, got)
			}
		}
		if last != tc.n {
			t.Errorf("n=%d: done saw %d finished, want %d", tc.n, last, tc.n)
		}
		for w := range used {
			if w < 0 || w >= tc.wantWorkers {
				t.Errorf("n=%d workers=%d: worker index %d out of [0,%d)", tc.n, tc.workers, w, tc.wantWorkers)
			}
		}
	}
}
