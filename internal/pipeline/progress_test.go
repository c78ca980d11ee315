package pipeline

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgress: a status line only on a terminal, only after the
// threshold, cleared before other output and at the end.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false) // a buffer is not a terminal
	if p.step("validated") != nil {
		t.Error("a progress callback without a terminal")
	}
	p.printf("message\n")
	p.finish()
	if buf.String() != "message\n" {
		t.Errorf("not a terminal: %q", buf.String())
	}

	buf.Reset()
	p = &progress{w: &syncBuffer{b: &buf}, start: time.Now(), enabled: true, stop: make(chan struct{}),
		progressInterval: time.Millisecond, progressThreshold: 0}
	p.wg.Add(1)
	go p.loop()
	p.step("validated")(3, 10)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.w.(*syncBuffer).String(), "validated 3/10 hosts") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.printf("done\n")
	p.finish()
	got := p.w.(*syncBuffer).String()
	if !strings.Contains(got, "\rimmich-render: validated 3/10 hosts\x1b[K") || !strings.Contains(got, "\r\x1b[Kdone\n") {
		t.Errorf("%q", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
