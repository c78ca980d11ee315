package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/immich-render/immich-render/internal/parallel"
	"github.com/immich-render/immich-render/internal/tree"
)

// ManifestFormat is the manifest layout this package writes.
const ManifestFormat = 1

// Manifest is the content of ManifestName. Its JSON has sorted keys, so
// that the bytes are a pure function of the tree and the options.
type Manifest struct {
	Files   []ManifestFile    `json:"files"`
	Format  int               `json:"format"`
	Meta    map[string]string `json:"meta,omitempty"`
	Tool    string            `json:"tool"`
	Version string            `json:"version"`
}

// ManifestFile is one file of an owned directory.
type ManifestFile struct {
	Mode   string `json:"mode"` // octal, as chmod takes it: "0644"
	Path   string `json:"path"` // slash-separated, relative to the directory
	SHA256 string `json:"sha256"`
}

// NewManifest returns the manifest that Write records for t.
func NewManifest(t tree.Tree, opt Options) Manifest {
	return newManifest(t, opt, nil)
}

// newManifest is NewManifest, with the digests of the files whose bytes a
// Checking dropped (sums) instead of hashing their (nil) data.
func newManifest(t tree.Tree, opt Options, sums map[string][sha256.Size]byte) Manifest {
	m := Manifest{
		Files:   make([]ManifestFile, 0, len(t)),
		Format:  ManifestFormat,
		Tool:    opt.tool(),
		Version: opt.Version,
	}
	if len(opt.Meta) > 0 {
		m.Meta = make(map[string]string, len(opt.Meta))
		for k, v := range opt.Meta {
			m.Meta[k] = v
		}
	}
	paths := t.Paths()
	m.Files = m.Files[:len(paths)]
	hash := func(i int) error {
		p := paths[i]
		sum, ok := sums[p]
		if !ok {
			sum = sha256.Sum256(t[p].Data)
		}
		m.Files[i] = ManifestFile{Mode: octal(t[p].Mode), Path: p, SHA256: hex.EncodeToString(sum[:])}
		return nil
	}
	// A fleet's tree is thousands of files: hash them in parallel, in
	// chunks large enough to outweigh a goroutine.
	const chunk = 256
	parallel.Each((len(paths)+chunk-1)/chunk, func(c int) error {
		for i := c * chunk; i < min((c+1)*chunk, len(paths)); i++ {
			hash(i)
		}
		return nil
	})
	return m
}

// claimManifest marks a directory as owned before anything else is written
// into it, so that a first write that is interrupted leaves a directory the
// next run accepts without --force. It lists no files and no metadata: a
// reader sees no previous Immich version.
func claimManifest(opt Options) Manifest {
	return Manifest{Files: []ManifestFile{}, Format: ManifestFormat, Tool: opt.tool(), Version: opt.Version}
}

// Marshal returns the manifest as written: JSON, two-space indent, sorted
// keys, HTML characters left alone, a final newline.
func (m Manifest) Marshal() []byte {
	if m.Files == nil {
		m.Files = []ManifestFile{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		// Only strings, ints and a string map: encoding cannot fail.
		panic(fmt.Sprintf("output: encoding the manifest: %v", err))
	}
	return b.Bytes()
}

// ParseManifest decodes a manifest. Unknown fields are ignored, so that an
// older immich-render still recognises a directory a newer one wrote.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, err
	}
	if m.Tool == "" {
		return Manifest{}, errors.New(`no "tool" field`)
	}
	if m.Format < 1 {
		return Manifest{}, errors.New(`no "format" field`)
	}
	return m, nil
}

// ReadManifest reads the manifest of dir. It returns an error that matches
// fs.ErrNotExist when dir or its manifest does not exist, and an error when
// the manifest is not a regular file (a symbolic link is not followed) or
// cannot be parsed.
func ReadManifest(dir string) (Manifest, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading the manifest of %s: %w", dir, err)
	}
	defer root.Close()
	return readManifest(root)
}

func readManifest(root *os.Root) (Manifest, error) {
	where := root.Name() + string(os.PathSeparator) + ManifestName
	fi, err := root.Lstat(ManifestName)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading %s: %w", where, err)
	}
	if !fi.Mode().IsRegular() {
		return Manifest{}, fmt.Errorf("reading %s: not a regular file (%s)", where, kindOf(fi.Mode()))
	}
	data, err := root.ReadFile(ManifestName)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading %s: %w", where, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s is not an immich-render manifest: %w", where, err)
	}
	return m, nil
}

// kindOf names a file type for messages.
func kindOf(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symbolic link"
	case fs.ModeNamedPipe:
		return "named pipe"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "device"
	}
	return "special file"
}
