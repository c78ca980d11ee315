package render

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/internal/tree"
)

type userData struct {
	WriteFiles []struct {
		Path, Owner, Permissions, Encoding, Content string
		Defer                                       bool
	} `yaml:"write_files"`
	// Runcmd items are a command's words or a line of shell.
	Runcmd []any `yaml:"runcmd"`
}

// words is a runcmd item's command line, "" for a line of shell.
func words(item any) string {
	l, ok := item.([]any)
	if !ok {
		return ""
	}
	var w []string
	for _, x := range l {
		w = append(w, fmt.Sprint(x))
	}
	return strings.Join(w, " ")
}

func decodeContent(t *testing.T, enc, content string) []byte {
	t.Helper()
	if enc == "" { // a literal block
		return []byte(content)
	}
	raw, err := base64.StdEncoding.DecodeString(content)
	if err != nil {
		t.Fatal(err)
	}
	switch enc {
	case "b64":
		return raw
	case "gzip+b64":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("unknown encoding %q", enc)
	return nil
}

// TestCloudInitWritesEveryFile decodes the user-data and finds every file
// of both trees in it, byte-exact, with its mode and owner.
func TestCloudInitWritesEveryFile(t *testing.T) {
	cfg := testenv.Config(t, map[string]string{"IMMICH_POSTGRES_PASSWORD": `pg 'quote" \back $x %y #z ünï`},
		`immich: nginx: {enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "a@example.com"}`)
	r := Render(cfg, all)
	ud := r.Secrets[UserDataPath]
	if ud.Mode != 0o600 || !bytes.HasPrefix(ud.Data, []byte("#cloud-config\n")) {
		t.Fatalf("user-data mode %o, starts %q", ud.Mode, ud.Data[:20])
	}
	var doc userData
	if err := yaml.Unmarshal(ud.Data, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i, f := range doc.WriteFiles {
		got[f.Path] = i
	}
	want := 0
	for name, tr := range map[string]map[string]bool{"out": nil, "secrets": nil} {
		_ = tr
		src := r.Out
		if name == "secrets" {
			src = r.Secrets
		}
		for _, p := range src.Paths() {
			host := "/" + strings.TrimPrefix(p, "rootfs/")
			if !strings.HasPrefix(p, "rootfs/") {
				if name == "secrets" || p == readmePath {
					continue // the user-data itself; the README stays in git
				}
				host = filepath.Join(StateDir, p)
			}
			want++
			i, ok := got[host]
			if !ok {
				t.Errorf("user-data does not write %s (%s)", host, p)
				continue
			}
			f := doc.WriteFiles[i]
			if data := decodeContent(t, f.Encoding, f.Content); !bytes.Equal(data, src[p].Data) {
				t.Errorf("%s: content differs after decoding", host)
			}
			if wantMode := fmt.Sprintf("%04o", uint32(src[p].Mode)); f.Permissions != wantMode {
				t.Errorf("%s: permissions %q, want %q", host, f.Permissions, wantMode)
			}
			if owner := src[p].Owner; owner != "" && (f.Owner != owner || !f.Defer) {
				t.Errorf("%s: owner %q defer %v, want %q deferred", host, f.Owner, f.Defer, owner)
			}
		}
	}
	if len(doc.WriteFiles) != want {
		t.Errorf("user-data writes %d files, want %d", len(doc.WriteFiles), want)
	}
	// The permissions must be quoted strings in the YAML: 0600 unquoted is
	// the decimal 600 to cloud-init.
	if !bytes.Contains(ud.Data, []byte(`permissions: "0600"`)) {
		t.Errorf("permissions not quoted:\n%s", ud.Data)
	}
	if last := words(doc.Runcmd[len(doc.Runcmd)-1]); last != "step systemctl enable --now immich.service" {
		t.Errorf("runcmd ends with %v", last)
	}
	if first := words(doc.Runcmd[1]); first != "step sh "+StateDir+"/fragments/apply.sh" {
		t.Errorf("runcmd starts with %v", first)
	}
}

// TestCloudInitSchema has cloud-init itself validate the user-data.
func TestCloudInitSchema(t *testing.T) {
	bin := testenv.Binary(t, "cloud-init")
	for name, cue := range map[string]string{
		"minimal": ``,
		"nginx and users": `immich: nginx: {enabled: true, hostname: "photos.example.com", acme: email: "a@example.com"}
			valkey: users: [{username: "paperless", password: "paperless-password", keyPatterns: ["paperless*"], commands: "-@all +@read +@write -@dangerous"}]`,
		"quadlet": `immich: runtime: "quadlet"`,
		"webroot": `immich: nginx: {enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "a@example.com", webroot: "/srv/a b/-x=y,z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := Render(testenv.Config(t, nil, cue), all)
			f := filepath.Join(t.TempDir(), "user-data")
			os.WriteFile(f, r.Secrets[UserDataPath].Data, 0o600)
			out, err := exec.Command(bin, "schema", "-c", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Valid") {
				t.Fatalf("cloud-init schema: %v\n%s", err, out)
			}
		})
	}
	// And that it can say no.
	f := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(f, []byte("#cloud-config\nwrite_files: {path: 1}\nruncmd: 3\n"), 0o600)
	if out, err := exec.Command(bin, "schema", "-c", f).CombinedOutput(); err == nil {
		t.Fatalf("cloud-init schema accepted a bad file:\n%s", out)
	}
}

// TestCloudInitGzipVariant: a gzip variant is always written and
// decompresses to the user-data; only a variant over 16 KiB even
// compressed is worth a warning, and the default configuration has none.
func TestCloudInitGzipVariant(t *testing.T) {
	small := Render(testenv.Config(t, nil), all)
	if len(small.Warnings) > 0 {
		t.Errorf("the default configuration warns: %q", small.Warnings)
	}
	ud := small.Secrets[UserDataPath].Data
	gz, ok := small.Secrets[UserDataGzPath]
	if !ok {
		t.Fatal("no gzip variant")
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Data))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, ud) || gz.Mode != 0o600 {
		t.Errorf("gzip variant does not decompress to the user-data")
	}

	// Environment values that do not compress: over the limit even gzipped.
	var env strings.Builder
	for i := range 400 {
		fmt.Fprintf(&env, "VAR_%d: %q\n", i, fmt.Sprintf("%x", sha256.Sum256([]byte{byte(i), byte(i >> 8)})))
	}
	big := Render(testenv.Config(t, nil, "immich: environment: {\n"+env.String()+"}"), all)
	if n := len(big.Secrets[UserDataGzPath].Data); n <= UserDataLimit {
		t.Fatalf("test config too small: %d bytes compressed", n)
	}
	if len(big.Warnings) != 1 || !strings.Contains(big.Warnings[0], "16384") {
		t.Errorf("warnings %q, want one about the 16384-byte limit", big.Warnings)
	}
}

// TestCloudInitPyYAML reads the user-data with PyYAML, as cloud-init does,
// and finds every literal block byte for byte, including text that YAML
// could mistake (quotes, a '#', trailing spaces, a leading indent,
// non-ASCII letters).
func TestCloudInitPyYAML(t *testing.T) {
	py := testenv.Binary(t, "python3")
	if err := exec.Command(py, "-c", "import yaml").Run(); err != nil {
		testenv.Skip(t, "python3 has no yaml module (python3-yaml, which cloud-init depends on)")
	}
	cfg := testenv.Config(t, map[string]string{"IMMICH_POSTGRES_PASSWORD": `pg 'quote" \back $x %y #z ünï`},
		`immich: environment: {IMMICH_LOG_LEVEL: "log", NOTE: " leading  # and trailing  "}`)
	r := Render(cfg, all)
	ud := filepath.Join(t.TempDir(), "user-data")
	os.WriteFile(ud, r.Secrets[UserDataPath].Data, 0o600)
	out, err := exec.Command(py, "-c", `import json, sys, yaml
d = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
json.dump({f["path"]: f["content"] for f in d["write_files"] if "encoding" not in f}, sys.stdout)`, ud).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, src := range []tree.Tree{r.Out, r.Secrets} {
		for _, p := range src.Paths() {
			host := "/" + strings.TrimPrefix(p, "rootfs/")
			if !strings.HasPrefix(p, "rootfs/") {
				host = filepath.Join(StateDir, p)
			}
			if c, ok := got[host]; ok {
				n++
				if c != string(src[p].Data) {
					t.Errorf("%s: PyYAML reads other bytes", host)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d literal blocks", n)
	}
}
