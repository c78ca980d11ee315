package output

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS says that syncFS exists here: Write then skips the fsync of
// each file and makes everything durable with one syncfs(2).
const canSyncFS = true

// syncFS makes every change to the file system that holds f durable:
// syncfs(2), the file system's own sync, one journal commit for any
// number of files. Since Linux 5.8 it reports a write-back error of any
// file of the file system, as fsync does for one.
func syncFS(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		for {
			if serr = unix.Syncfs(int(fd)); serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("syncfs", serr)
	}
	return nil
}
