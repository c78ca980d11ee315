//go:build !linux

package output

import (
	"bytes"
	"io"
	"io/fs"
	"maps"
	"os"
	"syscall"
)

// scanRoot scans the directory open as root, or its subdirectory rel (one
// path component, not a link).
func (s *scanner) scanRoot(root *os.Root, rel string) error {
	if rel == "." {
		return s.dir(root, ".", false)
	}
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &fs.PathError{Op: "open", Path: rel, Err: syscall.ENOTDIR}
	}
	sub, err := root.OpenRoot(rel)
	if err != nil {
		return err
	}
	return s.dir(sub, rel, true)
}

// dir lists the directory rel, open as r (closed at the end when own),
// and hands its subdirectories to the pool.
func (s *scanner) dir(r *os.Root, rel string, own bool) error {
	if own {
		defer r.Close()
	}
	if s.pool.Stopped() {
		return nil
	}
	f, err := r.Open(".")
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	found := make(map[string]entry, len(names))
	for _, name := range names {
		p := name
		if rel != "." {
			p = rel + "/" + name
		}
		fi, err := r.Lstat(name)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), size: fi.Size()}
		if e.isRegular() && s.want != nil {
			if data, ok := s.want(p); ok && int64(len(data)) == e.size {
				if e.same, err = sameBytes(r, name, data); err != nil {
					return err
				}
			}
		}
		found[p] = e
		if e.isDir() && !s.skip[p] {
			sub, err := r.OpenRoot(name)
			if err != nil {
				return err
			}
			s.pool.Go(func() error { return s.dir(sub, p, true) })
		}
	}
	s.mu.Lock()
	maps.Copy(s.entries, found)
	s.mu.Unlock()
	return nil
}

// sameBytes reports whether the regular file name in r holds exactly data.
func sameBytes(r *os.Root, name string, data []byte) (bool, error) {
	f, err := r.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	if cap(*bp) < len(data)+1 {
		*bp = make([]byte, len(data)+1)
	}
	buf := (*bp)[:len(data)+1] // one byte more, to see a file that grew
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return false, err
	}
	return n == len(data) && bytes.Equal(buf[:n], data), nil
}
