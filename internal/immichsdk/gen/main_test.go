package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"github.com/immich-render/immich-render/internal/testenv"
)

// TestGenerate runs the generator's two halves on a small declarations file
// in @immich/sdk's shape (testdata/fetch-client.d.ts): TypeScript's parser
// through extract.js, then the CUE it writes, which must equal
// testdata/fetch-client.cue (UPDATE_GOLDEN=1 rewrites it), compile with
// the schema's settings/secret.cue, and accept and refuse what Immich
// would.
func TestGenerate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: installs TypeScript with npm and runs node")
	}
	testenv.Binary(t, "node")
	testenv.Binary(t, "npm")
	dir := t.TempDir()
	extract, err := setup(dir)
	if err != nil {
		testenv.Skip(t, "npm ci of TypeScript failed (is the npm registry reachable?): "+err.Error())
	}
	m, err := extractModel(extract, "testdata/fetch-client.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	if m.Root != "SystemConfigDto" {
		t.Errorf("root %s", m.Root)
	}
	if _, ok := m.Types["UnrelatedDto"]; ok {
		t.Error("a type the settings do not reach was extracted")
	}
	src, secrets, err := genCUE(m, sdk{Version: "9.9.9", Minor: [2]int{9, 9}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"notifications.smtp.transport.password", "oauth.clientSecret"}; !slices.Equal(secrets, want) {
		t.Errorf("secrets %v, want %v", secrets, want)
	}
	golden := "testdata/fetch-client.cue"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(src) {
		diff, _ := exec.Command("diff", "-u", golden, writeTemp(t, src)).CombinedOutput()
		t.Errorf("generated CUE differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", golden, diff)
	}

	ctx := cuecontext.New()
	def := compile(t, ctx, src)
	for _, c := range []struct {
		v  string
		ok bool
	}{
		{`{}`, true},
		{`{ffmpeg: {crf: 23, twoPass: true, targetAudioCodec: "opus", acceptedAudioCodecs: ["mp3", "aac"]}}`, true},
		{`{oauth: {defaultStorageQuota: null, clientSecret: {env: "OAUTH"}, issuerUrl: "https://id"}}`, true},
		{`{notifications: smtp: transport: password: {file: "/run/smtp"}}`, true},
		{`{labels: {a: "x", b: "y"}, nested: {"with-dash": 1}, level: "log"}`, true},
		{`{ffmpeg: {targetAudioCodec: "libopus"}}`, false},
		{`{ffmpeg: {acceptedAudioCodecs: ["mp3", "wav"]}}`, false},
		{`{ffmpeg: {crf: "23"}}`, false},
		{`{ffmpeg: {twoPass: 1}}`, false},
		{`{ffmpeg: {treads: 2}}`, false},
		{`{ffmpegg: {}}`, false},
		{`{oauth: {clientId: {env: "ID"}}}`, false},
		{`{labels: {a: 1}}`, false},
		{`{level: "debug"}`, false},
	} {
		err := def.Unify(ctx.CompileString(c.v)).Validate(cue.Concrete(true))
		if (err == nil) != c.ok {
			t.Errorf("%s: accepted=%v, want %v (%v)", c.v, err == nil, c.ok, err)
		}
	}
}

func compile(t *testing.T, ctx *cue.Context, src []byte) cue.Value {
	t.Helper()
	secret, err := os.ReadFile("../../../schema/settings/secret.cue")
	if err != nil {
		t.Fatal(err)
	}
	inst := build.NewContext().NewInstance("", nil)
	for name, data := range map[string][]byte{"gen.cue": src, "secret.cue": secret} {
		f, err := parser.ParseFile(name, data)
		if err != nil {
			t.Fatal(err)
		}
		if err := inst.AddSyntax(f); err != nil {
			t.Fatal(err)
		}
	}
	v := ctx.BuildInstance(inst).LookupPath(cue.ParsePath("#Settings"))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

func writeTemp(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "got.cue")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
