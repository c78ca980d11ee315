//go:build !linux

package output

import (
	"errors"
	"os"
)

// canSyncFS is false where there is no syncfs(2): Write fsyncs each file
// before renaming it, and each directory it changed.
const canSyncFS = false

func syncFS(*os.File) error { return errors.ErrUnsupported }
