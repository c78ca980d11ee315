package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/output"
	"github.com/immich-render/immich-render/internal/tree"
)

var sums = []Summary{
	{Name: "a", Version: "v3.1.0", URL: "https://a.example.com/", MachineLearning: "cuda", Transcoding: "nvenc", Runs: "immich-server, nginx (TLS acme)", Runtime: "quadlet"},
	{Name: "b-2", Version: "v2.5.0", URL: "port 2283, no proxy", MachineLearning: "off", Transcoding: "cpu", Runs: "immich-server", Runtime: "compose"},
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta(sums)
	if m["hosts.b-2.immichVersion"] != "v2.5.0" || len(m) != 12 {
		t.Fatalf("%v", m)
	}
	// A single site's key and unrelated keys are ignored.
	m["immichVersion"] = "v1.0.0"
	m["hosts.NOT.valid.url"] = "x"
	m["hosts.a.unknown"] = "x"
	if got := FromMeta(m); !reflect.DeepEqual(got, sums) {
		t.Errorf("got %+v", got)
	}
	if got := FromMeta(map[string]string{"immichVersion": "v3.1.0"}); len(got) != 0 {
		t.Errorf("a single-site manifest has hosts: %v", got)
	}
}

func TestHostOf(t *testing.T) {
	for p, want := range map[string]string{"README.md": "", ".immich-render.json": "", "a/README.md": "a", "b-2/rootfs/etc/x": "b-2"} {
		if got := HostOf(p); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestScope(t *testing.T) {
	d := output.Drift{
		Changed: []output.Change{{Path: "README.md"}, {Path: "a/x"}, {Path: "b-2/x"}, {Path: "b-2/"}, {Path: "a/"}},
		New:     []string{"a/y", "b-2/y"},
		Removed: []string{"b-2/", "c/z", "stray"},
	}
	got := Scope(d, func(h string) bool { return h == "a" })
	want := output.Drift{
		Changed: []output.Change{{Path: "README.md"}, {Path: "a/x"}, {Path: "a/"}},
		New:     []string{"a/y"},
		Removed: []string{"stray"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestIndex(t *testing.T) {
	idx := string(Index(sums, []string{"c"}))
	for _, want := range []string{
		"# Immich fleet: 2 hosts\n",
		"| [a](a/README.md) | v3.1.0 | https://a.example.com/ | cuda | nvenc | immich-server, nginx (TLS acme) |\n",
		"| [b-2](b-2/README.md) | v2.5.0 | port 2283, no proxy | off | cpu | immich-server |\n",
		"## Not rendered yet\n",
		"- c\n",
		"rsync -rlp a/rootfs/ root@HOST:/\n",
	} {
		if !strings.Contains(idx, want) {
			t.Errorf("index lacks %q:\n%s", want, idx)
		}
	}
	if strings.Contains(string(Index(sums, nil)), "Not rendered") {
		t.Error("a pending section without pending hosts")
	}
	if got := cell("a|b\nc"); got != `a\|b c` {
		t.Errorf("cell: %q", got)
	}
}

// TestReadHostFiles: the files a previous fleet render made for the hosts
// to keep come back as they are on disk, and nothing else.
func TestReadHostFiles(t *testing.T) {
	dir := t.TempDir()
	files := tree.Tree{
		"README.md":      {Data: []byte("index\n"), Mode: 0o644},
		"a/README.md":    {Data: []byte("a\n"), Mode: 0o644},
		"b-2/README.md":  {Data: []byte("b\n"), Mode: 0o644},
		"b-2/rootfs/acl": {Data: []byte("acl\n"), Mode: 0o640},
		"b-2/gone":       {Data: []byte("gone\n"), Mode: 0o644},
	}
	opt := output.Options{Meta: Meta(sums)}
	if _, err := output.Write(dir, files, opt); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "b-2/README.md"), []byte("edited\n"), 0o644) // kept as it is on disk
	os.Remove(filepath.Join(dir, "b-2/gone"))                                    // listed but gone: left out
	prev, err := output.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := readHostFiles(dir, prev, []string{"b-2"})
	if err != nil {
		t.Fatal(err)
	}
	want := tree.Tree{
		"b-2/README.md":  {Path: "b-2/README.md", Data: []byte("edited\n"), Mode: 0o644},
		"b-2/rootfs/acl": {Path: "b-2/rootfs/acl", Data: []byte("acl\n"), Mode: 0o640},
	}
	if !reflect.DeepEqual(kept, want) {
		t.Errorf("kept %v", kept)
	}
	if kept, _ := readHostFiles(dir, prev, nil); len(kept) != 0 {
		t.Errorf("kept with no host to keep: %v", kept)
	}
}

// TestPreviousRuntime: a manifest from before immich.runtime ran compose,
// the only runtime then; no manifest says nothing.
func TestPreviousRuntime(t *testing.T) {
	for _, c := range []struct {
		meta       map[string]string
		host, want string
	}{
		{map[string]string{}, "", ""},
		{map[string]string{"immichVersion": "v3.1.0"}, "", "compose"},
		{map[string]string{"immichVersion": "v3.1.0", "runtime": "quadlet"}, "", "quadlet"},
		{map[string]string{"hosts.a.immichVersion": "v3.1.0"}, "a", "compose"},
		{map[string]string{"hosts.a.immichVersion": "v3.1.0", "hosts.a.runtime": "quadlet"}, "a", "quadlet"},
		{map[string]string{"hosts.a.immichVersion": "v3.1.0"}, "b", ""},
	} {
		if got := previousRuntime(c.meta, c.host); got != c.want {
			t.Errorf("previousRuntime(%v, %q) = %q, want %q", c.meta, c.host, got, c.want)
		}
	}
}
