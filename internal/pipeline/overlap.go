package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkOverlap refuses -o and --secrets-out when one is inside the other,
// as named or once symbolic links are followed: with `ln -s real link`,
// `-o real --secrets-out link/sub` would put plaintext secrets under -o,
// and `-o link/out --secrets-out real` would let the secrets write prune
// the -o tree.
func checkOverlap(out, secretsOut string) error {
	if secretsOut == "" {
		return nil
	}
	if overlaps(abs(out), abs(secretsOut)) {
		return &OverlapError{Out: out, SecretsOut: secretsOut}
	}
	rOut, err := resolve(out)
	if err != nil {
		return err
	}
	rSecrets, err := resolve(secretsOut)
	if err != nil {
		return err
	}
	if overlaps(rOut, rSecrets) {
		return &OverlapError{Out: out, SecretsOut: secretsOut, ResolvedOut: rOut, ResolvedSecretsOut: rSecrets}
	}
	return nil
}

// abs is filepath.Abs, which also cleans, as every write does; on the
// rare error (no working directory) the cleaned path itself.
func abs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// resolve returns where p leads: its longest existing prefix with every
// symbolic link followed, then the rest, which does not exist yet and so
// holds no link. The path is cleaned first, as output.Write cleans it.
func resolve(p string) (string, error) {
	p = abs(p)
	rest := ""
	for dir := p; ; dir = filepath.Dir(dir) {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || dir == filepath.Dir(dir) {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		// A dangling link at dir fails too: follow it by hand, once, so
		// that a link to a directory yet to be made is not missed.
		if target, err := os.Readlink(dir); err == nil {
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(dir), target)
			}
			if resolved, err := resolve(target); err == nil {
				return filepath.Join(resolved, rest), nil
			}
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// overlaps reports whether one absolute, clean directory is inside the
// other (or the same).
func overlaps(a, b string) bool {
	within := func(x, y string) bool {
		return x == y || strings.HasPrefix(x, y+string(filepath.Separator)) || y == string(filepath.Separator)
	}
	return within(a, b) || within(b, a)
}
