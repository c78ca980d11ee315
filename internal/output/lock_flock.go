//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package output

import (
	"errors"
	"os"
	"syscall"
)

// openDir opens dir itself, refusing a symbolic link, so that the lock and
// everything after it apply to the directory the caller named.
func openDir(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
}

// lock takes flock(2) on the open directory: exclusive for a write, shared
// for a check. If another process holds a conflicting lock, onWait is
// called and lock waits for it. The kernel releases the lock when f is
// closed or the process dies, so a killed run never leaves it behind.
func lock(f *os.File, exclusive bool, onWait func()) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	fd := int(f.Fd())
	err := flock(fd, how|syscall.LOCK_NB)
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return err
	}
	if onWait != nil {
		onWait()
	}
	return flock(fd, how)
}

// lockNow takes the lock of lock only if nobody holds a conflicting one,
// without waiting: false means that another process (or open file) does.
func lockNow(f *os.File, exclusive bool) (bool, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// tryLock takes an exclusive flock(2) on f if nobody holds one, without
// waiting: false means that another process (or open file) holds it.
func tryLock(f *os.File) (bool, error) {
	err := flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
