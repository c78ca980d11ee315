package schema

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/google/go-jsonnet"
)

// MaxJsonnetImport is the largest file a Jsonnet import may read.
const MaxJsonnetImport = 4 << 20

// importer is the Jsonnet importer of a configuration: an import is read
// only from the directories of the configuration files and the -J
// directories, never through a symbolic link out of them, only from a
// regular file (a FIFO or device would block or never end), and only up
// to MaxJsonnetImport. Its errors name the import and never show what it
// would have read.
type importer struct {
	base   string   // the directory of the file being evaluated, absolute
	roots  []string // absolute, cleaned: the configuration's directories and jpaths
	jpaths []string // absolute -J directories, searched in order after the importing file's
	cache  map[string]*importEntry
}

type importEntry struct {
	contents jsonnet.Contents
	err      error
}

func newImporter(in Input, inputs []Input, jpaths []string) *importer {
	im := &importer{cache: map[string]*importEntry{}}
	im.base, _ = filepath.Abs(filepath.Dir(in.Name))
	add := func(dir string) {
		if abs, err := filepath.Abs(dir); err == nil && !slices.Contains(im.roots, abs) {
			im.roots = append(im.roots, abs)
		}
	}
	for _, in := range inputs {
		add(filepath.Dir(in.Name))
	}
	for _, d := range jpaths {
		add(d)
		if abs, err := filepath.Abs(d); err == nil {
			im.jpaths = append(im.jpaths, abs)
		}
	}
	return im
}

// Import implements jsonnet.Importer: relative to the importing file
// first, then the -J directories in order.
func (im *importer) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	var candidates []string
	if filepath.IsAbs(importedPath) {
		candidates = []string{filepath.Clean(importedPath)}
	} else {
		// The file being evaluated is an anonymous snippet to go-jsonnet
		// (importedFrom ""); files it imports are named by where they
		// were found, which is absolute.
		from := im.base
		if importedFrom != "" {
			from = filepath.Dir(importedFrom)
		}
		candidates = append(candidates, filepath.Join(from, importedPath))
		for _, r := range im.jpaths {
			candidates = append(candidates, filepath.Join(r, importedPath))
		}
	}
	var firstErr error
	for _, c := range candidates {
		e := im.read(c)
		if e.err == nil {
			return e.contents, c, nil
		}
		if !errors.Is(e.err, fs.ErrNotExist) || firstErr == nil {
			if firstErr == nil || errors.Is(firstErr, fs.ErrNotExist) {
				firstErr = e.err
			}
		}
	}
	if errors.Is(firstErr, fs.ErrNotExist) {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q: no such file next to the configuration or in a -J directory", importedPath)
	}
	return jsonnet.Contents{}, "", fmt.Errorf("import %q: %v", importedPath, firstErr)
}

// read reads one candidate file, once.
func (im *importer) read(abs string) *importEntry {
	if e, ok := im.cache[abs]; ok {
		return e
	}
	e := &importEntry{}
	e.contents, e.err = im.readConfined(abs)
	im.cache[abs] = e
	return e
}

func (im *importer) readConfined(abs string) (jsonnet.Contents, error) {
	// The innermost root: a -J directory inside the configuration's
	// directory is what names a hidden directory below.
	root := ""
	for _, r := range im.roots {
		if (abs == r || strings.HasPrefix(abs, r+string(filepath.Separator))) && len(r) > len(root) {
			root = r
		}
	}
	if root == "" {
		return jsonnet.Contents{}, fmt.Errorf("%s is outside the configuration's directories (%s); imports may only read files beside the configuration or under a -J directory",
			abs, strings.Join(im.roots, ", "))
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return jsonnet.Contents{}, err
	}
	// A hidden directory or file beside the configuration (.git, .env,
	// .ssh) is not configuration: vet runs on pull requests, and an
	// importstr of .git/config would print it. Naming it with -J allows it.
	for _, elem := range strings.Split(rel, string(filepath.Separator)) {
		if strings.HasPrefix(elem, ".") && elem != "." && elem != ".." {
			return jsonnet.Contents{}, fmt.Errorf("%s is in a hidden directory or is a hidden file (%s); imports do not read those unless -J names the directory itself", abs, elem)
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return jsonnet.Contents{}, err
	}
	defer r.Close()
	// os.Root refuses a symbolic link that leads out of the root;
	// O_NONBLOCK keeps a FIFO from blocking the open.
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, fs.ErrNotExist) {
			return jsonnet.Contents{}, fmt.Errorf("%s: %v (imports may not leave the configuration's directories, also not through a symbolic link)", abs, pe.Err)
		}
		return jsonnet.Contents{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return jsonnet.Contents{}, err
	}
	if !fi.Mode().IsRegular() {
		return jsonnet.Contents{}, fmt.Errorf("%s is not a regular file (%s)", abs, kindOfMode(fi.Mode()))
	}
	if fi.Size() > MaxJsonnetImport {
		return jsonnet.Contents{}, fmt.Errorf("%s is %d bytes; imports are limited to %d", abs, fi.Size(), MaxJsonnetImport)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxJsonnetImport+1))
	if err != nil {
		return jsonnet.Contents{}, err
	}
	if len(data) > MaxJsonnetImport {
		return jsonnet.Contents{}, fmt.Errorf("%s grew past %d bytes while it was read", abs, MaxJsonnetImport)
	}
	return jsonnet.MakeContentsRaw(data), nil
}

func kindOfMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}
