package output

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// canSwap says that renameat2(2) exists here, so that Write can build the
// new tree beside DIR and exchange the two in one step.
const canSwap = true

// exchange swaps the entries a and b of the open directory dir, atomically:
// renameat2 with RENAME_EXCHANGE, which neither needs b to be empty nor
// leaves a moment without one of them.
func exchange(dir *os.File, a, b string) error {
	var err error
	if cerr := control(dir, func(fd int) { err = unix.Renameat2(fd, a, fd, b, unix.RENAME_EXCHANGE) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("renameat2", err)
	}
	return nil
}

// linkAt makes name in to a hard link of name in from, without following
// a symbolic link (linkat without AT_SYMLINK_FOLLOW).
func linkAt(from *os.File, name string, to *os.File) error {
	var err error
	cerr := control(from, func(ffd int) {
		cerr := control(to, func(tfd int) { err = unix.Linkat(ffd, name, tfd, name, 0) })
		if err == nil {
			err = cerr
		}
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("linkat", err)
	}
	return nil
}

// isMountPoint reports whether name in the open directory dir is the root
// of a mount (statx's STATX_ATTR_MOUNT_ROOT, or a device other than dir's
// for kernels before 5.8), which cannot be renamed.
func isMountPoint(dir *os.File, name string) (bool, error) {
	var mount bool
	var err error
	cerr := control(dir, func(fd int) {
		var in, at unix.Statx_t
		if err = unix.Statx(fd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &in); err != nil {
			return
		}
		if in.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
			mount = in.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
			return
		}
		if err = unix.Statx(fd, ".", unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &at); err == nil {
			mount = in.Dev_major != at.Dev_major || in.Dev_minor != at.Dev_minor
		}
	})
	if cerr != nil {
		return false, cerr
	}
	if err != nil {
		return false, os.NewSyscallError("statx", err)
	}
	return mount, nil
}

func control(f *os.File, do func(fd int)) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return raw.Control(func(fd uintptr) { do(int(fd)) })
}

// owner returns the owner and group of a file.
func owner(fi os.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
