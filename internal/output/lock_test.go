package output

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
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

// TestLockFollowsSwap: writers that hold the lock, read a counter from the
// directory and write it back incremented, 8 at a time. Every write swaps
// DIR for a new directory, so most of them waited on a directory that is
// no longer DIR when they get its lock: they must notice and lock DIR
// again, or two of them would read the same value and one increment
// would be lost. Checks run meanwhile, and see a whole tree each time.
func TestLockFollowsSwap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	counter := func(n int) tree.Tree {
		t := bigTree("a", 0o644, 5)
		t.Add("counter", []byte(strconv.Itoa(n)), 0o644)
		return t
	}
	mustWrite(t, dir, counter(0), testOpt)
	const writers, rounds = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	var swaps atomic.Int64
	for range writers {
		wg.Go(func() {
			for range rounds {
				err := func() error {
					h, err := Hold(dir, testOpt)
					if err != nil {
						return err
					}
					defer h.Close()
					data, err := os.ReadFile(filepath.Join(dir, "counter"))
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(data))
					if err != nil {
						return err
					}
					r, err := h.Write(counter(n+1), testOpt)
					if r.Method == Swapped {
						swaps.Add(1)
					}
					return err
				}()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	checks := 0
	for done := false; !done; {
		select {
		case <-waitDone(&wg):
			done = true
		default:
		}
		h, err := openLocked(dir, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Under this shared lock no write lands: Check (which takes one
		// too) sees the tree the counter was read from.
		data, err := h.root.ReadFile("counter")
		n, aerr := strconv.Atoi(string(data))
		if err != nil || aerr != nil {
			h.close()
			wg.Wait()
			t.Fatalf("a check read the counter as %q: %v %v", data, err, aerr)
		}
		d, err := Check(dir, counter(n), testOpt)
		h.close()
		if err != nil || !d.Empty() {
			wg.Wait()
			t.Fatalf("Check of the counter at %d: %v %s", n, err, formatted(t, d))
		}
		checks++
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assertExactly(t, dir, counter(writers*rounds), testOpt)
	noLeftovers(t, dir)
	if swaps.Load() != writers*rounds {
		t.Errorf("%d of %d writes swapped", swaps.Load(), writers*rounds)
	}
	t.Logf("%d increments, none lost; %d checks meanwhile", writers*rounds, checks)
}

var waitDones sync.Map

// waitDone returns a channel closed once wg is done.
func waitDone(wg *sync.WaitGroup) <-chan struct{} {
	ch, loaded := waitDones.LoadOrStore(wg, make(chan struct{}))
	if !loaded {
		go func() { wg.Wait(); close(ch.(chan struct{})) }()
	}
	return ch.(chan struct{})
}
