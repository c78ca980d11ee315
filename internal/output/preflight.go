package output

import "path/filepath"

// Preflight says whether Write would refuse dir (a link, a file, a foreign
// non-empty directory) without writing anything, so that a caller writing
// two directories can refuse both before it changes either. A missing dir
// is fine: Write creates it.
func Preflight(dir string, opt Options) error {
	dir = filepath.Clean(dir)
	exists, err := statDir(dir)
	if err != nil || !exists {
		return err
	}
	h, err := openLocked(dir, false, opt.OnWait)
	if err != nil {
		return err
	}
	defer h.close()
	entries, err := h.scan(nil, nil)
	if err != nil {
		return err
	}
	if reason := owned(h, entries, opt); reason != "" && len(entries) > 0 && !opt.Force {
		return notOwned(dir, entries, reason)
	}
	return nil
}
