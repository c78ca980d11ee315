package budget

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "512": 512, "64KiB": 64 << 10, "2GiB": 2 << 30, "512 MiB": 512 << 20, "3M": 3 << 20, "10B": 10} {
		var s Size
		if err := s.Set(in); err != nil || s != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "2TB", "lots", "9999999999GiB"} {
		var s Size
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q) = %d; want an error", in, s)
		}
	}
	for s, want := range map[Size]string{2 << 30: "2 GiB", 256 << 20: "256 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", int64(s), got, want)
		}
	}
}

func TestSoftLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, floor, ceiling, want int64 }{
		{10 * mib, 100 * mib, 0, 100 * mib},            // a small run: the floor
		{60 * mib, 100 * mib, 0, 100 * mib},            // under two thirds of the floor: still the floor
		{150 * mib, 100 * mib, 0, 350 * mib},           // past the floor: follows the live heap
		{600 * mib, 100 * mib, 0, 1700 * mib},          // a large fleet: near three times live
		{150 * mib, 100 * mib, 1800 * mib, 350 * mib},  // the budget far away
		{900 * mib, 100 * mib, 1800 * mib, 1800 * mib}, // near the budget: collect harder instead
		{0, 100 * mib, 64 * mib, 64 * mib},             // a budget below the floor wins
	} {
		if got := softLimit(c.live, c.floor, c.ceiling); got != c.want {
			t.Errorf("softLimit(%d, %d, %d) = %d MiB; want %d MiB", c.live/mib, c.floor/mib, c.ceiling/mib, got/mib, c.want/mib)
		}
	}
}

// TestFollowLiveHeap keeps a live heap far above the floor and collects:
// the soft limit must rise with it, and come back when the run stops.
func TestFollowLiveHeap(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	stop := followLiveHeap(8<<20, 0)
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	// The cleanup runs after a collection, on another goroutine: collect
	// until it has (a few rounds at most; no clock involved).
	for i := 0; i < 100 && debug.SetMemoryLimit(-1) < 3*64<<20-8<<20; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := debug.SetMemoryLimit(-1); got < 3*64<<20-8<<20 {
		t.Errorf("soft limit %d MiB with 64 MiB live; want at least %d MiB", got>>20, 3*64-8)
	}
	runtime.KeepAlive(live)
	stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after stop the soft limit is %d; want %d", got, before)
	}
}
