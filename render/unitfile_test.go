package render

import "testing"

func TestUnitFile(t *testing.T) {
	u := newUnitFile()
	u.Add("Unit", "Description", "50% of /srv/a b")
	u.AddList("Unit", "After", "a.service", "b.service")
	u.Comment("Service", "Why the next key is there.")
	u.AddExec("Service", "ExecStartPre", "+", "/bin/sh", "-c", "echo $HOME 100%")
	u.AddEnv("Service", "A", "x y")
	u.AddEnv("Service", "B", "plain")
	u.Add("Unit", "Wants", "c.service") // back to a group already started
	want := header("#") + `[Unit]
Description=50%% of /srv/a b
After=a.service b.service
Wants=c.service

[Service]
# Why the next key is there.
ExecStartPre=+/bin/sh -c "echo $$HOME 100%%"
Environment="A=x y"
Environment=B=plain
`
	if got := string(u.Bytes()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestUnitFileRefuses: what the writer cannot write correctly is a
// renderer bug, caught at once rather than rendered.
func TestUnitFileRefuses(t *testing.T) {
	for name, f := range map[string]func(u *unitFile){
		"unsupported key":    func(u *unitFile) { u.Add("Container", "BogusKey", "1") },
		"line break":         func(u *unitFile) { u.Add("Unit", "Description", "a\nb") },
		"comment break":      func(u *unitFile) { u.Comment("Unit", "a\nb") },
		"list word":          func(u *unitFile) { u.AddList("Unit", "After", "a b") },
		"exec prefix":        func(u *unitFile) { u.AddExec("Service", "ExecStart", "x", "/bin/true") },
		"env control":        func(u *unitFile) { u.AddEnv("Service", "A", "a\x00") },
		"trailing backslash": func(u *unitFile) { u.Add("Unit", "Description", `a\`) },
	} {
		u := newUnitFile()
		u.supported = map[string][]string{"Container": {"Image"}}
		if recoverPanic(func() { f(u) }) == nil {
			t.Errorf("%s: no panic", name)
		}
	}
}
