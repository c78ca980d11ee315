//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package output

import "os"

// openDir opens dir. The caller has already refused a symbolic link.
func openDir(dir string) (*os.File, error) { return os.Open(dir) }

// lock does nothing on systems without flock(2): concurrent writes into
// one directory are not serialised there.
func lock(*os.File, bool, func()) error { return nil }

// lockNow succeeds: there are no locks to hold here.
func lockNow(*os.File, bool) (bool, error) { return true, nil }

// tryLock succeeds: there are no locks to hold here.
func tryLock(*os.File) (bool, error) { return true, nil }
