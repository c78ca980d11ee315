// Package budget bounds a run: the memory it may use, how long it may take
// and how much configuration it may read. A configuration is untrusted
// input (vet runs on pull requests), and neither CUE nor Jsonnet can stop
// an evaluation half-way, so a watchdog ends the process with one line
// that names the limit, the inputs and the flag that raises it, rather
// than letting the kernel kill it or a CI job hang.
//
// The defaults sit far above a real configuration: a 1,000-host fleet
// renders in under 5 s with a peak of under 300 MB and is 140 KB of CUE
// (BENCHMARKS.md). The largest fleet measured, 20,000 hosts (2.9 MB of
// CUE, a fifth of the input limit), costs 2 ms of CPU per host to vet
// (39 s, 650 MB peak) and 3.7 ms to render (75 s, 1.9 GB peak: its trees
// alone are 1.2 GB, and the collector works harder as the memory limit
// nears); a larger fleet needs --max-memory raised (docs/hardening.md).
package budget

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
)

// Limits are a run's budget. Zero means no limit.
type Limits struct {
	Memory  Size          // Go memory mapped from the system, in bytes
	Timeout time.Duration // wall clock from the start of the run
	Input   Size          // configuration files (-c), in total

	// HeapFloor, when not zero, makes the Go runtime's soft memory limit
	// follow the live heap during the run (see liveHeadroom), never
	// below HeapFloor and, when Memory is set, never above nine tenths
	// of it: the process then collects harder as the budget nears
	// instead of meeting it. The CLI sets it unless GOMEMLIMIT is set.
	HeapFloor Size
}

// Default is the budget of every run unless a flag raises it.
var Default = Limits{Memory: 2 << 30, Timeout: 10 * time.Minute, Input: 16 << 20}

// Register adds --max-memory, --timeout and --max-input to fs, starting
// from l's values.
func (l *Limits) Register(fs *pflag.FlagSet) {
	fs.Var(&l.Memory, "max-memory", "stop with exit 2 when the run uses more than `SIZE` of memory (0: no limit)")
	fs.DurationVar(&l.Timeout, "timeout", l.Timeout, "stop with exit 2 when the run takes longer than `DURATION` (0: no limit)")
	fs.Var(&l.Input, "max-input", "refuse configuration files of more than `SIZE` in total (0: no limit)")
}

// Exceeded is what the watchdog found: the one line a CLI prints before
// it exits 2.
type Exceeded struct{ Msg string }

// pollEvery is how often the watchdog looks at the clock and the memory.
// An evaluation that allocates a gigabyte a second overshoots the memory
// limit by at most a few tens of megabytes.
const pollEvery = 20 * time.Millisecond

// Watch starts the watchdog of a run over inputs (named in the message)
// and returns the function that stops it. When a limit is exceeded, stop
// is never reached: exceeded is called, from the watchdog's goroutine, and
// must end the process. Watch also makes the Go runtime collect harder
// as the memory limit nears, so that only a run whose live data really
// needs more stops.
func (l Limits) Watch(inputs []string, exceeded func(Exceeded)) (stop func()) {
	what := "the configuration"
	if len(inputs) > 0 {
		what = strings.Join(inputs, ", ")
	}
	if l.Memory > 0 {
		// A deeply nested input recurses deeply (parsers, evaluators), and
		// a goroutine past Go's stack limit is a fatal runtime error, not
		// something to recover from. With the stack limit above the memory
		// limit, such a run meets the memory limit first.
		debug.SetMaxStack(int(min(2*int64(l.Memory), 1<<40)))
	}
	unfollow := func() {}
	if l.HeapFloor > 0 {
		unfollow = followLiveHeap(int64(l.HeapFloor), int64(l.Memory)/10*9)
	}
	done := make(chan struct{})
	var once sync.Once
	start := time.Now()
	go func() {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if l.Timeout > 0 && now.Sub(start) > l.Timeout {
					exceeded(Exceeded{fmt.Sprintf("evaluating %s took longer than the time limit of %v; "+
						"if the configuration really needs that long, raise it with --timeout", what, l.Timeout)})
					return
				}
				if l.Memory > 0 {
					metrics.Read(sample)
					used := int64(sample[0].Value.Uint64() - sample[1].Value.Uint64())
					if used > int64(l.Memory) {
						exceeded(Exceeded{fmt.Sprintf("evaluating %s used more than the memory limit of %v; "+
							"if the configuration really needs that much, raise it with --max-memory", what, l.Memory)})
						return
					}
				}
			}
		}
	}()
	return func() { once.Do(func() { close(done); unfollow() }) }
}

// Exit prints e the way the CLI prints a refused configuration and ends the
// process with exit 2.
func Exit(e Exceeded) {
	fmt.Fprintf(os.Stderr, "immich-render: %s; nothing was written\n", e.Msg)
	os.Exit(2)
}

// Size is a number of bytes, given as 2GiB, 512MiB, 64KiB or a plain number.
type Size int64

var units = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

func (s Size) String() string {
	for _, u := range units[:3] {
		if s >= Size(u.n) && int64(s)%u.n == 0 {
			return fmt.Sprintf("%d %s", int64(s)/u.n, u.suffix)
		}
	}
	return fmt.Sprintf("%d bytes", int64(s))
}

// Set parses a size for pflag.
func (s *Size) Set(v string) error {
	t := strings.TrimSpace(v)
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mul = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return fmt.Errorf("%q is not a size: want a number of bytes, or one ending in KiB, MiB or GiB", v)
	}
	*s = Size(n * mul)
	return nil
}

// Type names the flag's value in the help.
func (s *Size) Type() string { return "size" }
