package budget

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// liveHeadroom is how many times the live heap the soft memory limit
// allows once the live heap has outgrown the floor.
//
// A fixed soft limit below the live heap makes the runtime collect without
// pause: a 10,000-host fleet keeps ~150 MB live while it is validated and
// ~600 MB (its rendered trees) at the end, and under a fixed 100 MiB limit
// its vet took 57 s instead of 10 s, its cost per host growing with the
// fleet. With the limit at twice the live heap (as GOGC=100) a 5,000-host
// vet took 13.3 s of CPU, at three times 8.3 s, at four 7.3 s: three is
// the knee.
const liveHeadroom = 3

// softLimit is the soft memory limit for a live heap of live bytes: the
// floor while the live heap is below two thirds of it, then liveHeadroom
// times live less the floor, which reaches three times live as the fleet
// grows, but never above ceiling (0: none), where collecting harder is
// better than meeting the budget.
//
// Less the floor: a run whose live heap stays under the floor (a 1,000-host
// fleet keeps ~50 MB live) keeps the floor as its limit and its peak near
// it (~130 MB instead of ~190 MB at three times live), while the limit is
// never less than 1.5 times the live heap, so collections never run
// without pause; at twice the floor it is 2.5 times live.
func softLimit(live, floor, ceiling int64) int64 {
	limit := max(floor, liveHeadroom*live-floor)
	if ceiling > 0 {
		limit = min(limit, ceiling)
	}
	return limit
}

// followLiveHeap sets the soft memory limit after each collection to
// softLimit of the live heap, until stop is called, which restores the
// limit it found. It runs as a cleanup of an object that becomes garbage
// at each collection, so it needs no goroutine of its own and costs
// nothing between collections.
func followLiveHeap(floor, ceiling int64) (stop func()) {
	old := debug.SetMemoryLimit(-1)
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		runtime.AddCleanup(new([32]byte), func(struct{}) {
			if stopped.Load() {
				return
			}
			metrics.Read(sample)
			if limit := softLimit(int64(sample[0].Value.Uint64()), floor, ceiling); debug.SetMemoryLimit(-1) != limit {
				debug.SetMemoryLimit(limit)
			}
			arm()
		}, struct{}{})
	}
	debug.SetMemoryLimit(softLimit(0, floor, ceiling))
	arm()
	return func() {
		if !stopped.Swap(true) {
			debug.SetMemoryLimit(old)
		}
	}
}
