package pipeline

import (
	"io"
	"testing"
)

// TestQuietWaits: -q prints nothing, also not "waiting for another
// render"; without it the wait is announced for both directories.
func TestQuietWaits(t *testing.T) {
	for _, quiet := range []bool{true, false} {
		p := &plan{req: Request{Out: "out", SecretsOut: "sdir", Quiet: quiet}}
		opts := p.options(newProgress(io.Discard, quiet))
		if len(opts) != 2 {
			t.Fatalf("%d options", len(opts))
		}
		for _, o := range opts {
			if (o.OnWait == nil) != quiet {
				t.Errorf("quiet %v: OnWait set %v", quiet, o.OnWait != nil)
			}
		}
		if !opts[1].RootMode || opts[1].DirMode != 0o700 || opts[0].RootMode {
			t.Errorf("modes: %+v", opts)
		}
	}
}
