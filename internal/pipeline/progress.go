package pipeline

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows, on a terminal only, how far a long fleet run is: a
// status line on stderr, redrawn ten times a second once the run has
// taken more than a second. Everything else the run prints to stderr goes
// through printf, which clears the line first. Without a terminal, or with
// --quiet, it prints nothing of its own.
type progress struct {
	w       io.Writer
	enabled bool
	start   time.Time

	mu                sync.Mutex
	label             string
	done, total       int
	shown, stopped    bool
	stop              chan struct{}
	wg                sync.WaitGroup
	progressInterval  time.Duration
	progressThreshold time.Duration
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, start: time.Now(), progressInterval: 100 * time.Millisecond, progressThreshold: time.Second}
	if quiet || !isTerminal(w) {
		return p
	}
	p.enabled = true
	p.label = "validating"
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop()
	return p
}

// isTerminal reports whether w is a terminal (a character device; TERM is
// not "dumb").
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.progressInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			if time.Since(p.start) < p.progressThreshold {
				continue
			}
			p.mu.Lock()
			line := "immich-render: " + p.label
			if p.total > 0 {
				line += fmt.Sprintf(" %d/%d hosts", p.done, p.total)
			}
			fmt.Fprintf(p.w, "\r%s\x1b[K", line)
			p.shown = true
			p.mu.Unlock()
		}
	}
}

// step returns a callback for a stage counted in hosts, or nil when
// nothing is shown.
func (p *progress) step(label string) func(done, total int) {
	if !p.enabled {
		return nil
	}
	return func(done, total int) {
		p.mu.Lock()
		p.label, p.done, p.total = label, done, total
		p.mu.Unlock()
	}
}

// stage names a stage that is not counted.
func (p *progress) stage(label string) {
	p.mu.Lock()
	p.label, p.done, p.total = label, 0, 0
	p.mu.Unlock()
}

// printf prints a message, clearing the status line first.
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// finish stops the status line and clears it. It may be called again.
func (p *progress) finish() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	close(p.stop)
	p.wg.Wait()
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}
