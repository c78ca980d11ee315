package main

import (
	"os"
	"runtime/debug"
)

// fleetGCPercent and fleetMemoryLimit tune the garbage collector of the
// process (main sets them; a library never does). A fleet run allocates a
// great deal (CUE evaluation, rendering) and keeps little of it: fewer, larger collections cost about a fifth less
// CPU than Go's default GOGC=100, and the memory limit keeps the heap
// bounded whatever the fleet's size (past it, collections are frequent
// again). A 1,000-host render keeps at most ~50 MB live (its trees at the
// end), so 100 MiB costs a few more collections at the end only (about 4%
// more CPU than 256 MiB) and keeps the peak resident set near 120 MB
// instead of ~240 MB. See BENCHMARKS.md. A larger fleet keeps more than
// 100 MiB live: during a run, the budget's watchdog raises the limit with
// the live heap (budget.Limits.HeapFloor), or collections would never stop.
const (
	fleetGCPercent   = 400
	fleetMemoryLimit = 100 << 20
)

// tuneGC applies the GC settings unless the user set GOGC or GOMEMLIMIT,
// and returns the function that restores the previous ones.
func tuneGC() (restore func()) {
	var undo []func()
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(fleetGCPercent)
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(fleetMemoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}
