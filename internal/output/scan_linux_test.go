package output

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestScanMatchesLstat: the Linux scan, made of raw system calls, finds
// every entry with the mode and size os.Lstat reports (every file type and
// special bit), never follows a link, and finds a file the same only when
// it holds exactly the expected bytes.
func TestScanMatchesLstat(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string, data string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("same", "hello\n", 0o644)
	mk("a/b/c/deep", "deep\n", 0o600)
	mk("differs", "hellO\n", 0o644)
	mk("longer", "hello\n!", 0o644)
	mk("shorter", "hell", 0o644)
	mk("empty", "", 0o640)
	mk("setuid", "x", os.ModeSetuid|0o755)
	mk("setgid", "x", os.ModeSetgid|0o755)
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		os.Symlink(outside, filepath.Join(dir, "link")),
		os.Symlink(filepath.Dir(outside), filepath.Join(dir, "dirlink")),
		syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600),
		os.Mkdir(filepath.Join(dir, "sticky"), 0o755),
		os.Chmod(filepath.Join(dir, "sticky"), os.ModeSticky|0o777),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Many entries in one directory: more than one getdents64 buffer.
	for i := range 2000 {
		mk(filepath.Join("many", strings.Repeat("n", 100)+string(rune('a'+i%26))+strconv.Itoa(i)), "m", 0o644)
	}

	want := map[string]string{
		"same": "hello\n", "a/b/c/deep": "deep\n", "differs": "hello\n", "longer": "hello\n",
		"shorter": "hello", "empty": "", "link": "hello\n", "fifo": "", "dirlink/target": "hello\n",
	}
	h, err := openLocked(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	entries, err := h.scan(func(p string) ([]byte, bool) {
		d, ok := want[p]
		return []byte(d), ok
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	var walked int
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		walked++
		rel, _ := filepath.Rel(dir, p)
		e, ok := entries[filepath.ToSlash(rel)]
		switch {
		case !ok:
			t.Errorf("%s: not found by the scan", rel)
		case e.mode != fi.Mode() || e.size != fi.Size():
			t.Errorf("%s: scan found mode %v size %d, Lstat %v size %d", rel, e.mode, e.size, fi.Mode(), fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != walked {
		t.Errorf("scan found %d entries, Lstat %d", len(entries), walked)
	}
	if _, ok := entries["dirlink/target"]; ok {
		t.Error("the scan followed a link to a directory")
	}
	for p, same := range map[string]bool{"same": true, "a/b/c/deep": true, "empty": true,
		"differs": false, "longer": false, "shorter": false, "link": false, "fifo": false} {
		if entries[p].same != same {
			t.Errorf("%s: same = %v, want %v", p, entries[p].same, same)
		}
	}
}
