//go:build !linux

package output

import (
	"errors"
	"os"
)

// canSwap is false where there is no renameat2(2): Write replaces the
// files of DIR one by one.
const canSwap = false

func exchange(*os.File, string, string) error     { return errors.ErrUnsupported }
func linkAt(*os.File, string, *os.File) error     { return errors.ErrUnsupported }
func isMountPoint(*os.File, string) (bool, error) { return false, errors.ErrUnsupported }
func owner(os.FileInfo) (uid, gid int, ok bool)   { return 0, 0, false }
