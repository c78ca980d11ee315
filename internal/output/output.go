// Package output writes a rendered tree to a directory that immich-render
// owns, and checks such a directory for drift without writing.
//
// The directory is generated output. After a successful [Write] it holds
// exactly the tree's files plus the manifest [ManifestName], which records
// the tool, its version and every file's mode and SHA-256, and marks the
// directory as owned: a non-empty directory without a manifest is refused
// unless [Options.Force] is set, so that a mistyped -o never deletes
// somebody's files.
//
// Writes are built to be safe to interrupt and to repeat:
//   - a write that changes nothing touches nothing: every file's bytes and
//     mode are compared first, and when all of them, the directories and
//     the manifest are right, that is the end of it;
//   - a write that changes anything builds the whole new tree in a staging
//     directory beside DIR, on the same file system
//     (.<name>.immich-render-new.<random>): the manifest first, unchanged
//     files hard-linked from DIR (so their inode and mtime stay, and rsync
//     or make see nothing new), changed ones written with their exact mode
//     (whatever the umask); it makes the staging tree durable, then
//     exchanges it with DIR in one renameat2(RENAME_EXCHANGE), fsyncs the
//     parent and removes the old tree. Whatever moment a crash or a SIGKILL
//     picks, DIR is the old tree or the new one, each whole and matching
//     its manifest; DIR keeps its mode and owner across the swap;
//   - what a killed write leaves beside DIR (a staging tree, or the old
//     tree after the exchange) is removed by the next write: only a
//     directory with DIR's staging name, held by no live write, that holds
//     this tool's manifest (or nothing yet); Check never looks at it;
//   - durability costs a constant, not a sync per file: the staging tree
//     is made durable by one syncfs(2) (a tree of a few files, or a system
//     without syncfs, gets an fsync of each file and directory instead);
//   - where the tree cannot be swapped (DIR is a mount point or holds the
//     working directory, its parent takes no new directory, the file
//     system has no RENAME_EXCHANGE), files are replaced one by one inside
//     DIR, and [Report] says so and why: each changed file goes to a
//     temporary file in its own directory, is made durable and only then
//     renamed over the old one, the manifest last, so every path holds its
//     old or its new version, never a mix; a temporary file left by a
//     killed run is a stray that the next run removes;
//   - the next run compares what is on disk, not what the manifest says, so
//     it converges whatever state an interruption left behind;
//   - a non-empty directory taken over by force (in place, an empty one
//     too) is claimed first, with a manifest that lists no files, so that
//     if the write is cut short the next run finds the directory owned and
//     needs no --force.
//
// Every directory inside DIR gets exactly [Options.DirMode], whatever the
// umask: rsync -a copies directory modes too, and rootfs/etc lands on the
// host's /etc. Check counts a wrong directory mode as drift.
//
// Nothing outside the directory and its staging directories is ever
// touched. All access goes through an [os.Root] opened on the directory
// (or on its parent, for the staging directories), and symbolic links inside it are never
// followed: a link at a path the tree writes is replaced by the file, a link
// anywhere else (even to a directory) is removed as a stray, not descended
// into. The directory itself must be a real directory, not a link.
//
// Concurrent writers are serialised by an exclusive flock(2) on the
// directory itself (no lock file, so nothing stray appears inside it). A
// second [Write] waits for the first to finish, after calling
// [Options.OnWait] so that a CLI can say why it is waiting; [Check] takes a
// shared lock, so it never sees a half-finished write. A swap replaces the
// directory the lock was on, so a waiter that gets the lock checks that
// DIR still names the directory it locked, and locks DIR again if not; the
// writer holds the lock of the new tree from the moment it is created
// until it is done.
package output

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
)

// ManifestName is the manifest's file name at the root of an owned directory.
const ManifestName = ".immich-render.json"

// DefaultTool is the tool name recorded in the manifest when Options.Tool is empty.
const DefaultTool = "immich-render"

// tempInfix marks the temporary files a write renames into place. A killed
// run can leave one behind; it is a stray like any other file.
const tempInfix = ".immich-render-tmp-"

// Options tunes Write and Check.
type Options struct {
	// Force lets Write take over a non-empty directory that has no manifest,
	// removing every file in it that the tree does not have.
	Force bool

	// DirMode is the exact mode of every directory inside DIR, and of DIR
	// itself when Write creates it: 0o755 for -o, 0o700 for --secrets-out.
	// Zero means 0o755. The manifest gets DirMode without execute bits
	// (0o644 or 0o600).
	DirMode fs.FileMode

	// RootMode gives DIR itself DirMode on every write, not only when
	// Write creates it, and makes Check count a wrong mode of DIR (as
	// "./") unless GitModes: a secrets directory left 0777 by hand would
	// let anyone replace the secret files in it.
	RootMode bool

	// Tool, Version and Meta are recorded in the manifest. An empty Tool
	// means DefaultTool. Meta is free metadata such as
	// {"immichVersion": "v3.1.0"}; it is written with sorted keys.
	Tool    string
	Version string
	Meta    map[string]string

	// NoDiffContent makes Check leave file contents out of its report
	// (no unified diffs, no manifest diff): names and modes only. For trees
	// that hold plaintext secrets.
	NoDiffContent bool

	// GitModes makes Check compare modes as git stores them: only the
	// owner's execute bit of files, no directory modes. A fresh clone gets
	// its modes from the umask (users.acl 0640 comes back 0644), so an
	// exact check of a checkout would always fail. The manifest still lists
	// exact modes, so a render that changes a mode is still drift: of the
	// manifest. Write always sets exact modes.
	GitModes bool

	// OnWait, when set, is called once if another process holds the
	// directory's lock, just before waiting for it.
	OnWait func()

	// hook, set only by tests, is called at each step of a write (op is
	// "stage" before the staging directory is made, "write" halfway
	// through a file, "link", "exchange", "remove" before the old tree
	// is removed; in place "rename", "remove", "manifest") and can fail
	// it, to prove that an interrupted write leaves a consistent
	// directory.
	hook func(op, path string) error

	// batchFrom, set only by tests, replaces batchMin, so that both ways
	// of making files durable are tested on small trees.
	batchFrom int

	// inPlace, set only by tests, makes Write replace files in place as
	// where the tree cannot be swapped, so that both ways are tested.
	inPlace bool
}

func (o Options) dirMode() fs.FileMode {
	if o.DirMode == 0 {
		return 0o755
	}
	return o.DirMode & fs.ModePerm
}

func (o Options) manifestMode() fs.FileMode { return o.dirMode() &^ 0o111 }

func (o Options) tool() string {
	if o.Tool == "" {
		return DefaultTool
	}
	return o.Tool
}

func (o Options) step(op, p string) error {
	if o.hook == nil {
		return nil
	}
	return o.hook(op, p)
}

// validate rejects trees that cannot be written as a directory: invalid
// paths, a path that is both a file and a directory, the manifest's name,
// or a mode with more than permission bits. Renderers never build such a
// tree, so these are internal errors.
func validate(t tree.Tree) error {
	paths := t.Paths()
	var problems []string
	for _, p := range paths {
		switch {
		case !fs.ValidPath(p) || p == "." || strings.Contains(p, `\`):
			problems = append(problems, fmt.Sprintf("invalid path %q", p))
			continue
		case p == ManifestName:
			problems = append(problems, fmt.Sprintf("%s is reserved for the manifest", p))
		case t[p].Mode&^fs.ModePerm != 0:
			problems = append(problems, fmt.Sprintf("%s: mode %v has more than permission bits", p, t[p].Mode))
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := t[d]; ok {
				problems = append(problems, fmt.Sprintf("%s is both a file and the directory of %s", d, p))
				break
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("output: the rendered tree cannot be written (a renderer bug): %s", strings.Join(problems, "; "))
	}
	return nil
}

// neededDirs returns the set of directories that hold a tree path.
func neededDirs(t tree.Tree) map[string]bool {
	dirs := map[string]bool{}
	for p := range t {
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	return dirs
}

// octal formats a mode the way chmod takes it: 0644.
func octal(m fs.FileMode) string {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return fmt.Sprintf("%04o", bits)
}
