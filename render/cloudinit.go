package render

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// readmePath is the output README, which the user-data leaves out.
const readmePath = "README.md"

// CloudInit paths in the secrets tree.
const (
	UserDataPath   = "cloud-init/user-data"
	UserDataGzPath = "cloud-init/user-data.gz"
	// UserDataLimit is AWS's user-data limit; OpenStack allows 64 KiB.
	UserDataLimit = 16 << 10
	// StateDir is where the host keeps the rest of the output tree (the
	// fragments and their apply script; cloud-init leaves the README out).
	StateDir = "/var/lib/immich-render"
)

// renderCloudInit renders a #cloud-config user-data that writes every file
// of both trees with its mode and owner, merges the fragments, and starts
// Immich. It holds the plaintext secrets, so it goes in the secrets tree.
// It also writes a gzip variant, which cloud-init accepts as user-data and
// which fits AWS's UserDataLimit where the plain file does not (the plain
// one stays, to read and to check with cloud-init schema). Only a gzip
// variant over the limit is worth a warning, and its text names no sizes,
// so that a fleet says it once for all the hosts it applies to.
func renderCloudInit(cfg *schema.Config, out, secrets tree.Tree) (files []tree.File, warnings []string) {
	z := newGzipper()
	writeFiles := ySeq()
	add := func(hostPath string, f tree.File) {
		item := yMap("path", hostPath)
		owner := f.Owner
		if owner == "" {
			owner = "root:root"
		}
		yAdd(item, "owner", owner)
		yAdd(item, "permissions", fmt.Sprintf("%04o", uint32(f.Mode)))
		if text, ok := yamlText(f.Data); ok {
			// Text goes in as a literal block: readable in a review, and
			// compressed well by the gzip variant (base64 of compressed
			// bytes, the alternative, does not compress again).
			yAdd(item, "content", text)
		} else {
			data, enc := z.encodeContent(f.Data)
			yAdd(item, "encoding", enc)
			yAdd(item, "content", data)
		}
		if f.Owner != "" {
			// The group (valkey, postgres) exists only once packages are
			// installed: write this file in the final stage.
			yAdd(item, "defer", true)
		}
		writeFiles.Content = append(writeFiles.Content, item)
	}
	for i, t := range []tree.Tree{out, secrets} {
		for _, p := range t.Paths() {
			if strings.HasPrefix(p, "rootfs/") {
				add("/"+strings.TrimPrefix(p, "rootfs/"), t[p])
			} else if i == 0 && p != readmePath {
				// The README is for the operator, who has it in git: left
				// out, the user-data of a default deployment fits AWS's
				// limit compressed.
				add(path.Join(StateDir, p), t[p])
			}
		}
	}

	doc := yMap("write_files", writeFiles, "runcmd", runcmd(cfg))
	doc.Content[2].HeadComment = /* the key runcmd */ "Every step runs only if the one before it succeeded: step stops at the\n" +
		"first failure and says so in cloud-init's output, so that Immich does not\n" +
		"start on a host whose PostgreSQL and Valkey apply.sh did not configure."
	data := yEncode("#cloud-config\n"+header("#")+"# It holds plaintext secrets: keep it out of git and out of logs.\n", doc)
	gz := z.gzip(data)
	files = []tree.File{secretFile(UserDataPath, data), secretFile(UserDataGzPath, gz)}
	if len(gz) > UserDataLimit {
		warnings = append(warnings, fmt.Sprintf(
			"%s is over AWS's %d-byte user-data limit even compressed: deliver the files with rsync, or use a cloud that takes more (OpenStack: 64 KiB)",
			UserDataGzPath, UserDataLimit))
	}
	return files, warnings
}

// runcmdStep defines step, which runs a command and stops the runcmd
// script, naming the command, when it fails: cloud-init runs runcmd as a
// plain sh script, which would go on after a failure.
const runcmdStep = `step() {
  "$@" || {
    rc=$?
    printf 'immich-render: %s failed (exit %s): the steps after it did not run, and Immich was not started\n' "$*" "$rc" >&2
    exit "$rc"
  }
}`

// runcmd is the user-data's runcmd: apply.sh, the first certificate (the
// webroot TLS mode; skipped where a certificate exists), then the
// README's start commands, each through step.
func runcmd(cfg *schema.Config) *yaml.Node {
	block := func(s string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.LiteralStyle}
	}
	steps := ySeq(block(runcmdStep))
	cmd := func(argv ...string) {
		c := yStrs(append([]string{"step"}, argv...))
		c.Style = yaml.FlowStyle
		steps.Content = append(steps.Content, c)
	}
	cmd("sh", path.Join(StateDir, ApplyScript))
	if first, cert := firstCertCommands(cfg); first != nil {
		var b strings.Builder
		fmt.Fprintf(&b, "if [ ! -e %s ]; then\n", shellPath(cert))
		for _, c := range first {
			b.WriteString("  step " + c + "\n")
		}
		b.WriteString("fi")
		steps.Content = append(steps.Content, block(b.String()))
	}
	for _, c := range startCommands(cfg) {
		cmd(strings.Fields(c)...)
	}
	return steps
}

// yamlText returns data as a literal block scalar when YAML keeps it
// byte for byte: UTF-8 of printable characters, newlines and tabs, and
// none of the characters a YAML 1.1 reader (cloud-init's PyYAML) takes for
// a line break or a byte order mark.
func yamlText(data []byte) (*yaml.Node, bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	for _, r := range string(data) {
		switch {
		case r == '\n', r == '\t':
		case r == 0x85, r == 0x2028, r == 0x2029, r == 0xFEFF, !unicode.IsPrint(r) && r != ' ':
			return nil, false
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(data), Style: yaml.LiteralStyle}, true
}

// gzipper compresses many files with one writer: setting up a compressor
// costs more than compressing a small file.
type gzipper struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

func newGzipper() *gzipper {
	g := &gzipper{}
	g.zw, _ = gzip.NewWriterLevel(&g.buf, gzip.BestCompression)
	return g
}

// gzip compresses deterministically: no name, no time stamp.
func (g *gzipper) gzip(b []byte) []byte {
	g.buf.Reset()
	g.zw.Reset(&g.buf)
	g.zw.Write(b)
	g.zw.Close()
	return bytes.Clone(g.buf.Bytes())
}

// encodeContent base64-encodes a file, gzipped first when that is smaller.
func (g *gzipper) encodeContent(b []byte) (string, string) {
	plain := base64.StdEncoding.EncodeToString(b)
	if len(b) < 256 {
		return plain, "b64" // too small to gain from the gzip header
	}
	if z := base64.StdEncoding.EncodeToString(g.gzip(b)); len(z) < len(plain) {
		return z, "gzip+b64"
	}
	return plain, "b64"
}
