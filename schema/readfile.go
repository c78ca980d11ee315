package schema

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSecretFile is the largest {file: PATH} secret read: a password or a
// key, never megabytes.
const MaxSecretFile = 64 << 10

// ReadSecretFile reads a {file: PATH} secret, the default of
// Options.ReadFile.
func ReadSecretFile(name string) ([]byte, error) { return ReadRegular(name, MaxSecretFile) }

// ErrNotRegular and ErrTooLarge match the errors of ReadRegular.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("too large")
)

// limitError is a refusal of ReadRegular: its message, and which of the
// two errors above it is.
type limitError struct {
	msg  string
	kind error
}

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == e.kind }

// ReadRegular reads a file that must be a regular file (a link to one is
// fine) of at most max bytes. A FIFO would block forever and /dev/zero
// never ends, so anything else is refused before it is read, and a file
// that grows past max while it is read is refused as well. The errors
// name what the file is and never show its contents.
func ReadRegular(name string, max int64) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if err := regularWithin(fi, max); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should name become a FIFO between the Stat and the
	// open, the open does not block; the Stat of the open file decides.
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regularWithin(fi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &limitError{fmt.Sprintf("it grew past %s while it was read", byteSize(max)), ErrTooLarge}
	}
	return data, nil
}

func regularWithin(fi fs.FileInfo, max int64) error {
	if !fi.Mode().IsRegular() {
		return &limitError{fmt.Sprintf("it is %s, not a regular file", kindOfMode(fi.Mode())), ErrNotRegular}
	}
	if fi.Size() > max {
		return &limitError{fmt.Sprintf("it is %s, more than the limit of %s", byteSize(fi.Size()), byteSize(max)), ErrTooLarge}
	}
	return nil
}

// byteSize formats a size the way the limits are given: 64 KiB, 16 MiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
