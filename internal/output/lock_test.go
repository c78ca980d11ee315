package output

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/immich-render/immich-render/internal/tree"
)

// A Write waits while another holds the lock, says so through OnWait, and
// finishes once the lock is released.
func TestWriteWaitsForLock(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, site(), testOpt)
	h, err := openLocked(dir, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	done := make(chan error)
	opt := testOpt
	opt.OnWait = func() { close(waiting) }
	go func() {
		_, err := Write(dir, next(), opt)
		done <- err
	}()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("Write did not wait for the lock: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Write neither waited nor finished")
	}
	select {
	case err := <-done:
		t.Fatalf("Write finished while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// A Check waits for the writer too.
	checked := make(chan struct{})
	go func() {
		Check(dir, next(), Options{})
		close(checked)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-checked:
		t.Fatal("Check ran while the directory was locked for writing")
	default:
	}
	h.close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-checked
	assertExactly(t, dir, next(), testOpt)
}

// Writers racing into one directory, starting with its creation, never
// corrupt it: at the end it is exactly one of the trees they wrote.
func TestWriteConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "out")
	trees := []tree.Tree{site(), next(), bigTree("a", 0o644, 50), bigTree("b", 0o600, 50)}
	optFor := func(i int) Options {
		o := testOpt
		o.Meta = map[string]string{"tree": string(rune('0' + i))}
		return o
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 6 {
		wg.Go(func() {
			for i := range 4 {
				k := (w + i) % len(trees)
				if _, err := Write(dir, trees[k], optFor(k)); err != nil {
					errs <- err
				}
				d, err := Check(dir, trees[k], optFor(k))
				if err != nil {
					errs <- err
				}
				_ = d // another writer may have run in between: any drift is fine
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := int(m.Meta["tree"][0] - '0')
	assertExactly(t, dir, trees[k], optFor(k))
}
