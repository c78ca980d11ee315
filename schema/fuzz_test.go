package schema

import (
	"bytes"
	"io/fs"
	"runtime/debug"
	"strings"
	"testing"
	"unicode/utf8"
)

// The loader fuzz targets feed arbitrary bytes to Load as one input file,
// alone or next to a valid base configuration in another file (so that a
// small fragment can reach unification, the Go rules and secret
// resolution). Whatever the bytes, Load must:
//   - not panic;
//   - return a *Config or Problems, never another error type;
//   - give every Problem a reason, and every position it prints a text;
//   - never answer with an internal error, which is a bug by definition;
//   - never show a secret that came from the environment or a file;
//   - return a Config only with every secret resolved and checked.
//
// The seed corpora live in testdata/fuzz/FuzzLoad*/ and run with every
// `go test`; `go test -fuzz FuzzLoadYAML ./schema` explores further.

// fuzzEnv holds the secrets the fuzzed configurations may reference. The
// values are distinctive, so that a message quoting one is no accident.
var fuzzEnv = map[string]string{
	"IMMICH_POSTGRES_PASSWORD": "fz-Pg-5ecret-Q7x!",
	"IMMICH_VALKEY_PASSWORD":   "fz-Vk-5ecret-Q7y!",
	"VALKEY_ADMIN_PASSWORD":    "fz-Adm-5ecret-Q7z!",
	"SHORT_SECRET":             "fz-Sh0rt-Q",            // too short
	"SPACED_SECRET":            " fz-Spaced-5ecret-Q7 ", // leading and trailing space
	"CONTROL_SECRET":           "fz-Ctl-5ecret\x07Q7",   // a control character
}

// fuzzFiles are the secret files the fuzzed configurations may reference;
// every other path does not exist.
var fuzzFiles = map[string]string{
	"/run/secrets/paperless": "fz-File-5ecret-Q7w\n",
	"/run/secrets/short":     "fz-F-Q7\n",
	"/run/secrets/crlf":      "fz-Crlf-5ecret-Q7\r\n",
}

// fuzzSecretVar is the environment variable whose value each fuzz input
// chooses (its third argument).
const fuzzSecretVar = "FUZZ_SECRET"

// fuzzBase is a valid configuration that uses every kind of secret,
// including the fuzzed one. The fuzzed file is unified with it when the
// input's second argument is true.
const fuzzBase = `immich: {
	version:        "v3.1.0"
	uploadLocation: "/mnt/storage/immich/upload"
	network: {subnet: "172.20.0.0/16", gateway: "172.20.0.1"}
	postgres: password: {env: "IMMICH_POSTGRES_PASSWORD"}
	valkey: password: {env: "IMMICH_VALKEY_PASSWORD"}
}
valkey: {
	adminPassword: {env: "VALKEY_ADMIN_PASSWORD"}
	users: [{username: "paperless", password: {file: "/run/secrets/paperless"}, keyPatterns: ["paperless*"], commands: "+@read +@write -@dangerous"}]
}
`

// fuzzOptions are the Load options of one fuzz input: the fixed secrets,
// the fuzzed one, and Jsonnet variables.
func fuzzOptions(secret string) Options {
	return Options{
		ExtStr: map[string]string{"version": "v3.1.0", "subnet": "172.20.0.0/16"},
		TLAStr: map[string]string{"site": "fuzz"},
		LookupEnv: func(k string) (string, bool) {
			if k == fuzzSecretVar {
				return secret, true
			}
			v, ok := fuzzEnv[k]
			return v, ok
		},
		ReadFile: func(name string) ([]byte, error) {
			if v, ok := fuzzFiles[name]; ok {
				return []byte(v), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

// fuzzLoader runs the property for one input format.
type fuzzLoader struct {
	ext string // the fuzzed file's extension
	s   *Schema
}

func newFuzzLoader(f *testing.F, ext string) *fuzzLoader {
	s, err := Compile()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(fuzzBase), false, "")
	f.Add([]byte{}, true, "")
	return &fuzzLoader{ext: ext, s: s}
}

// maxFuzzInput keeps each execution fast: the interesting structure of a
// configuration fits in a few kilobytes.
const maxFuzzInput = 8 << 10

func (fl *fuzzLoader) check(t *testing.T, data []byte, withBase bool, secret string) {
	if len(data) > maxFuzzInput {
		t.Skip("input too large")
	}
	var inputs []Input
	if withBase {
		inputs = append(inputs, Input{Name: "base.cue", Data: []byte(fuzzBase)})
	}
	inputs = append(inputs, Input{Name: "fuzz" + fl.ext, Data: data})

	// A panic fails this input only, so that the package's other tests
	// still run while a crash is open.
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Load panicked: %v\n%s", r, debug.Stack())
		}
	}()
	cfg, err := fl.s.Load(inputs, fuzzOptions(secret))
	if err == nil {
		if cfg == nil {
			t.Fatal("Load returned neither a Config nor an error")
		}
		for _, ns := range cfg.Secrets() {
			if ns.Secret.Source == "" {
				t.Fatalf("Load returned a Config whose secret %s is not resolved", ns.Path)
			}
			if reason := checkSecret(ns.Secret.Value); reason != "" {
				t.Fatalf("Load returned a Config whose secret %s from %s %s", ns.Path, ns.Secret.Source, reason)
			}
		}
		return
	}
	ps, ok := err.(Problems)
	if !ok {
		t.Fatalf("Load returned %T, want Problems: %v", err, err)
	}
	if cfg != nil {
		t.Fatalf("Load returned a Config and problems:\n%v", ps)
	}
	if len(ps) == 0 {
		t.Fatal("Load returned an empty Problems")
	}
	for _, p := range ps {
		if strings.TrimSpace(p.Reason) == "" {
			t.Fatalf("problem without a reason: %#v", p)
		}
		if strings.Contains(p.Reason, "internal error") {
			t.Fatalf("an input reaches an internal error:\n%v", ps)
		}
		for _, pos := range p.Pos {
			if strings.TrimSpace(formatPos(pos)) == "" {
				t.Fatalf("problem with an empty position: %#v", p)
			}
		}
	}

	msg := ps.Error()
	in := func(s string) bool { return bytes.Contains(data, []byte(s)) || strings.Contains(fuzzBase, s) }
	for _, v := range fuzzEnv {
		if strings.Contains(msg, v) && !in(v) {
			t.Fatalf("a message shows the secret %q:\n%s", v, msg)
		}
	}
	for _, v := range fuzzFiles {
		v = strings.TrimRight(v, "\r\n")
		if strings.Contains(msg, v) && !in(v) {
			t.Fatalf("a message shows the secret file content %q:\n%s", v, msg)
		}
	}
	// The fuzzed secret may be a word that messages use anyway ("field",
	// "immich"): it leaks only if the message changes with its value.
	if utf8.RuneCountInString(secret) >= 6 && strings.Contains(msg, secret) && !in(secret) {
		alt := strings.Repeat("q", utf8.RuneCountInString(secret))
		if alt == secret {
			alt = strings.Repeat("r", len(alt))
		}
		_, err2 := fl.s.Load(inputs, fuzzOptions(alt))
		if err2 == nil || !strings.Contains(err2.Error(), secret) {
			t.Fatalf("a message shows the secret %q from %s:\n%s", secret, fuzzSecretVar, msg)
		}
	}
}

func FuzzLoadCUE(f *testing.F) {
	fl := newFuzzLoader(f, ".cue")
	src, _ := Starter("cue")
	f.Add(src, false, "")
	f.Fuzz(fl.check)
}

func FuzzLoadJSON(f *testing.F) {
	fl := newFuzzLoader(f, ".json")
	src, _ := Starter("json")
	f.Add(src, false, "")
	f.Fuzz(fl.check)
}

func FuzzLoadYAML(f *testing.F) {
	fl := newFuzzLoader(f, ".yaml")
	src, _ := Starter("yaml")
	f.Add(src, false, "")
	f.Fuzz(fl.check)
}

func FuzzLoadJsonnet(f *testing.F) {
	fl := newFuzzLoader(f, ".jsonnet")
	src, _ := Starter("jsonnet")
	f.Add(src, false, "")
	f.Fuzz(func(t *testing.T, data []byte, withBase bool, secret string) {
		// Jsonnet imports read the real file system (a fuzzed
		// importstr "/dev/zero" would never end): they are tested in
		// the scripts, not here.
		if bytes.Contains(data, []byte("import")) {
			t.Skip("imports read the file system")
		}
		fl.check(t, data, withBase, secret)
	})
}
