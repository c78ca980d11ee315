package output

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// On Linux a scan reads DIR with the system calls themselves, each relative
// to the open directory that holds the entry: getdents64 for a directory's
// names, fstatat(AT_SYMLINK_NOFOLLOW) for each entry, and for a file to
// compare openat, read and close. Through os.Root and os.File the same scan
// made twice the calls (an fcntl pair and a refused epoll_ctl for every
// file and directory opened, an fstat for each file): half of a 200-host
// --check's 80,000 system calls. Every name comes from getdents64, so it
// is one path component; a directory is opened with O_NOFOLLOW|O_DIRECTORY
// and a file with O_NOFOLLOW|O_NONBLOCK, then checked with fstat, so an
// entry swapped for a link or a FIFO meanwhile is neither followed nor
// waited on.

// scanRoot scans the directory open as root, or its subdirectory rel (one
// path component, not a link).
func (s *scanner) scanRoot(root *os.Root, rel string) error {
	f, err := root.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	var fd int
	err = rawControl(f, func(raw int) error {
		var err error
		if rel == "." {
			fd, err = unix.FcntlInt(uintptr(raw), unix.F_DUPFD_CLOEXEC, 0)
		} else {
			fd, err = openatRetry(raw, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		}
		return err
	})
	if err != nil {
		op := "dup"
		if rel != "." {
			op = "openat"
		}
		return &fs.PathError{Op: op, Path: rel, Err: err}
	}
	return s.dirFD(fd, rel)
}

// rawControl runs fn with f's descriptor, without putting f into blocking
// mode as File.Fd does.
func rawControl(f *os.File, fn func(int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// dirFD lists the directory rel, open as fd (which it closes), and hands
// its subdirectories to the pool.
func (s *scanner) dirFD(fd int, rel string) error {
	defer unix.Close(fd)
	if s.pool.Stopped() {
		return nil
	}
	names, err := readNames(fd)
	if err != nil {
		return &fs.PathError{Op: "getdents64", Path: rel, Err: err}
	}
	found := make(map[string]entry, len(names))
	for _, name := range names {
		p := name
		if rel != "." {
			p = rel + "/" + name
		}
		var st unix.Stat_t
		if err := ignoringEINTR(func() error { return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		e := entry{mode: fileMode(st.Mode), size: st.Size}
		if e.isRegular() && s.want != nil {
			if data, ok := s.want(p); ok && int64(len(data)) == e.size {
				if e.same, err = sameBytesAt(fd, name, data); err != nil {
					return &fs.PathError{Op: "read", Path: p, Err: err}
				}
			}
		}
		found[p] = e
		if e.isDir() && !s.skip[p] {
			sub, err := openatRetry(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
			if err != nil {
				return &fs.PathError{Op: "openat", Path: p, Err: err}
			}
			s.pool.Go(func() error { return s.dirFD(sub, p) })
		}
	}
	s.mu.Lock()
	maps.Copy(s.entries, found)
	s.mu.Unlock()
	return nil
}

// readNames returns the names in directory fd but "." and "..".
func readNames(fd int) ([]string, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	var names []string
	for {
		var n int
		err := ignoringEINTR(func() (err error) {
			n, err = unix.Getdents(fd, *bp)
			return err
		})
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent((*bp)[:n], -1, names)
	}
}

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// sameBytesAt reports whether the entry name of directory dirfd is a
// regular file holding exactly data.
func sameBytesAt(dirfd int, name string, data []byte) (bool, error) {
	fd, err := openatRetry(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != int64(len(data)) {
		return false, nil // replaced since the lstat
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	if cap(*bp) < len(data)+1 {
		*bp = make([]byte, len(data)+1)
	}
	buf := (*bp)[:len(data)+1] // one byte more, to see a file that grew
	n := 0
	for n < len(buf) {
		var m int
		err := ignoringEINTR(func() (err error) {
			m, err = unix.Read(fd, buf[n:])
			return err
		})
		if err != nil {
			return false, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n == len(data) && bytes.Equal(buf[:n], data), nil
}

func openatRetry(dirfd int, name string, flags int) (int, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(dirfd, name, flags, 0)
		return err
	})
	return fd, err
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}

// fileMode is what os.Lstat reports as the mode of a file whose st_mode is
// m (os's fillFileStatFromSys).
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
