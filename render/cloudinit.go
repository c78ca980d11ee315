package render

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// CloudInit paths in the secrets tree.
const (
	UserDataPath   = "cloud-init/user-data"
	UserDataGzPath = "cloud-init/user-data.gz"
	// UserDataLimit is AWS's user-data limit; OpenStack allows 64 KiB.
	UserDataLimit = 16 << 10
	// StateDir is where the host keeps the rest of the output tree (this
	// README, the fragments and their apply script).
	StateDir = "/var/lib/immich-render"
)

// renderCloudInit renders a #cloud-config user-data that writes every file
// of both trees with its mode and owner, merges the fragments, and starts
// Immich. It holds the plaintext secrets, so it goes in the secrets tree.
// Past UserDataLimit it also writes a gzip variant, which cloud-init
// accepts as user-data.
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
		data, enc := z.encodeContent(f.Data)
		yAdd(item, "encoding", enc)
		yAdd(item, "content", data)
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
			} else if i == 0 {
				add(path.Join(StateDir, p), t[p])
			}
		}
	}

	runcmd := ySeq(
		ySeq("sh", path.Join(StateDir, "fragments/apply.sh")),
	)
	for _, c := range startCommands(cfg) {
		runcmd.Content = append(runcmd.Content, yStrs(strings.Fields(c)))
	}
	for _, c := range runcmd.Content {
		c.Style = yaml.FlowStyle
	}
	doc := yMap("write_files", writeFiles, "runcmd", runcmd)
	data := yEncode("#cloud-config\n"+header("#")+"# It holds plaintext secrets: keep it out of git and out of logs.\n", doc)
	files = []tree.File{secretFile(UserDataPath, data)}
	if len(data) > UserDataLimit {
		gz := z.gzip(data)
		files = append(files, secretFile(UserDataGzPath, gz))
		if len(gz) <= UserDataLimit {
			warnings = append(warnings, fmt.Sprintf(
				"cloud-init user-data is %d bytes, over AWS's %d-byte limit: use %s (%d bytes) there",
				len(data), UserDataLimit, UserDataGzPath, len(gz)))
		} else {
			warnings = append(warnings, fmt.Sprintf(
				"cloud-init user-data is %d bytes and %s %d, both over AWS's %d-byte limit: there, copy the files with rsync as the README says (OpenStack allows 64 KiB)",
				len(data), UserDataGzPath, len(gz), UserDataLimit))
		}
	}
	return files, warnings
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
