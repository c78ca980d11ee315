package schema_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

// nginxProblems loads Minimal with an nginx section and returns the
// problems, failing the test if the configuration loads.
func nginxProblems(t *testing.T, nginx string) schema.Problems {
	t.Helper()
	_, err := testenv.Load(nil, "immich: nginx: "+nginx)
	if err == nil {
		t.Fatalf("nginx: %s\nloaded, want it refused", nginx)
	}
	var ps schema.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("nginx: %s\nerror is %T, not schema.Problems (exit 2): %v", nginx, err, err)
	}
	return ps
}

// problemAt returns the problems at path.
func problemAt(ps schema.Problems, path string) []schema.Problem {
	var out []schema.Problem
	for _, p := range ps {
		if p.PathString() == path {
			out = append(out, p)
		}
	}
	return out
}

// cueString quotes s for a CUE source file.
func cueString(s string) string { return strconv.Quote(s) }

// TestNginxRefusesInjection feeds values that would add or break nginx
// directives (';', braces, quotes, white space, '$' variables, line
// breaks) to every nginx field a user types, and wants each refused by
// the schema at its own path, with a position in the input: the renderer
// never sees them.
func TestNginxRefusesInjection(t *testing.T) {
	hostile := []string{
		`photos.example.com; include /etc/shadow`,
		`photos.example.com{`,
		`photos.example.com}`,
		`"photos.example.com"`,
		`'photos.example.com'`,
		`photos example.com`,
		`photos.example.com$request_uri`,
		"photos.example.com\nreturn 200",
		`photos.example.com#`,
		`photos\.example.com`,
	}
	emails := []string{
		`admin@example.com; accept_terms_of_service`,
		`admin@example.com}`,
		`{admin}@example.com`,
		`"admin"@example.com`,
		`ad min@example.com`,
		`$admin@example.com`,
		"admin@example.com\n",
		`admin@example.com'`,
	}
	paths := []string{
		`/var/www/le; root /`,
		`/var/www/{le}`,
		`/var/www/"le"`,
		`/var/www/'le'`,
		`/var/www/$host`,
		"/var/www/le\nroot /",
		`/var/www/le\`,
		`relative/path`,
		`/var/www/../etc`,
	}
	base := `enabled: true, hostname: "photos.example.com"`
	type tc struct{ nginx, path string }
	var cases []tc
	for _, h := range hostile {
		cases = append(cases, tc{fmt.Sprintf(`{enabled: true, tls: "off", hostname: %s}`, cueString(h)), "immich.nginx.hostname"})
	}
	for _, e := range emails {
		cases = append(cases,
			tc{fmt.Sprintf(`{%s, acme: email: %s}`, base, cueString(e)), "immich.nginx.acme.email"},
			tc{fmt.Sprintf(`{%s, tls: "webroot", acme: email: %s}`, base, cueString(e)), "immich.nginx.acme.email"})
	}
	for _, p := range paths {
		cases = append(cases,
			tc{fmt.Sprintf(`{%s, tls: "webroot", acme: email: "a@example.com", webroot: %s}`, base, cueString(p)), "immich.nginx.webroot"},
			tc{fmt.Sprintf(`{%s, tls: "manual", certificate: %s, certificateKey: "/k.pem"}`, base, cueString(p)), "immich.nginx.certificate"},
			tc{fmt.Sprintf(`{%s, tls: "manual", certificate: "/c.pem", certificateKey: %s}`, base, cueString(p)), "immich.nginx.certificateKey"},
			tc{fmt.Sprintf(`{%s, acme: {email: "a@example.com", statePath: %s}}`, base, cueString(p)), "immich.nginx.acme.statePath"})
	}
	for _, name := range []string{`le; include /x`, `le{`, `le}`, `"le"`, `le le`, `$le`, "le\n", `LE`, ``} {
		cases = append(cases, tc{fmt.Sprintf(`{%s, acme: {email: "a@example.com", issuer: %s}}`, base, cueString(name)), "immich.nginx.acme.issuer"})
	}
	for _, u := range []string{`https://acme.example.com/dir; x`, `https://acme.example.com/{dir}`, `https://acme.example.com/"dir"`, `https://acme.example.com/$dir`, "https://acme.example.com/\n", `https://acme example.com/`, `http://acme.example.com/dir`} {
		cases = append(cases, tc{fmt.Sprintf(`{%s, acme: {email: "a@example.com", directory: %s}}`, base, cueString(u)), "immich.nginx.acme.directory"})
	}
	for _, ip := range []string{`1.1.1.1;`, `1.1.1.1 valid=1s`, `{1.1.1.1}`, `"1.1.1.1"`, `$resolver`, "1.1.1.1\n", `[::1]`, `fe80::1%eth0`, `localhost`} {
		cases = append(cases, tc{fmt.Sprintf(`{%s, acme: {email: "a@example.com", resolver: [%s]}}`, base, cueString(ip)), "immich.nginx.acme.resolver.0"})
	}
	for _, a := range []string{`10.0.0.0/8;`, `10.0.0.0/8 x`, `{10.0.0.0/8}`, `"10.0.0.0/8"`, `$remote_addr`, "10.0.0.0/8\n", `10.0.0.0/33`, `unix:`} {
		cases = append(cases, tc{fmt.Sprintf(`{%s, tls: "off", realIpFrom: [%s]}`, base, cueString(a)), "immich.nginx.realIpFrom.0"})
	}
	for _, size := range []string{`50000M; x`, `50000M}`, `"50000M"`, `50 000M`, `$size`, "50000M\n", `0`, `50T`} {
		cases = append(cases, tc{fmt.Sprintf(`{%s, tls: "off", maxBodySize: %s}`, base, cueString(size)), "immich.nginx.maxBodySize"})
	}

	for _, c := range cases {
		ps := nginxProblems(t, c.nginx)
		at := problemAt(ps, c.path)
		if len(at) == 0 {
			t.Errorf("nginx: %s\nno problem at %s; got:\n%v", c.nginx, c.path, ps)
			continue
		}
		if !slices.ContainsFunc(at, func(p schema.Problem) bool {
			return len(p.Pos) > 0 && p.Pos[0].Filename() == "extra0.cue" && p.Pos[0].Line() > 0
		}) {
			t.Errorf("nginx: %s\nproblem at %s has no input position:\n%v", c.nginx, c.path, at)
		}
	}
}

// TestNginxFieldRules checks the rules between fields, each with the
// message an operator sees.
func TestNginxFieldRules(t *testing.T) {
	const host = `enabled: true, hostname: "photos.example.com"`
	for _, c := range []struct {
		nginx, path, reason string
	}{
		{`{enabled: true}`, "immich.nginx.hostname", "required field is missing"},
		{`{enabled: true, hostname: "photos"}`, "immich.nginx.hostname", `"photos" does not have the required form`},
		{`{enabled: true, hostname: "Photos.Example.com"}`, "immich.nginx.hostname", `does not have the required form`},
		{`{enabled: true, hostname: "-photos.example.com"}`, "immich.nginx.hostname", `does not have the required form`},
		{`{enabled: true, hostname: "*.example.com"}`, "immich.nginx.hostname", `does not have the required form`},
		{`{enabled: true, hostname: "~^photos"}`, "immich.nginx.hostname", `does not have the required form`},
		{`{enabled: true, hostname: "192.0.2.1"}`, "immich.nginx.hostname", `does not have the required form`},
		{`{` + host + `}`, "immich.nginx.acme.email", "required field is missing"},
		{`{` + host + `, tls: "webroot"}`, "immich.nginx.acme.email", "required field is missing"},
		{`{` + host + `, acme: email: "admin"}`, "immich.nginx.acme.email", `"admin" does not have the required form`},
		{`{` + host + `, acme: email: "admin@localhost"}`, "immich.nginx.acme.email", `does not have the required form`},
		{`{` + host + `, tls: "manual"}`, "immich.nginx.certificate", "required field is missing"},
		{`{` + host + `, tls: "manual", certificate: "/c.pem"}`, "immich.nginx.certificateKey", "required field is missing"},
		{`{` + host + `, tls: "off", certificate: "/c.pem"}`, "immich.nginx.certificate", `certificate is only used with tls: "manual" (tls is "off")`},
		{`{` + host + `, tls: "webroot", acme: email: "a@example.com", certificateKey: "/k.pem"}`, "immich.nginx.certificateKey", `certificateKey is only used with tls: "manual" (tls is "webroot")`},
		{`{` + host + `, tls: "off", http2: "on"}`, "immich.nginx.http2", `HTTP/2 needs TLS here, and tls is "off"`},
		{`{` + host + `, tls: "manual", certificate: "/c.pem", certificateKey: "/k.pem", http2: "yes"}`, "immich.nginx.http2", `"yes" is not allowed`},
		{`{` + host + `, tls: "off", hsts: enabled: true}`, "immich.nginx.hsts.enabled", `HSTS is sent on HTTPS responses, and tls is "off"`},
		{`{` + host + `, tls: "off", hsts: maxAge: 0}`, "immich.nginx.hsts.maxAge", ``},
		{`{` + host + `, acme: {email: "a@example.com", staging: true, directory: "https://acme.example.com/directory"}}`, "immich.nginx.acme.directory", "directory and staging: true both choose the ACME directory; keep one"},
		{`{` + host + `, tls: "acme-dns"}`, "immich.nginx.tls", `"acme-dns" is not allowed`},
		{`{` + host + `, tls: "off", httpPort: 0}`, "immich.nginx.httpPort", ``},
		{`{` + host + `, tls: "off", listen: 80}`, "immich.nginx.listen", "unknown field"},
	} {
		ps := nginxProblems(t, c.nginx)
		at := problemAt(ps, c.path)
		if len(at) == 0 {
			t.Errorf("nginx: %s\nno problem at %s; got:\n%v", c.nginx, c.path, ps)
			continue
		}
		if !slices.ContainsFunc(at, func(p schema.Problem) bool { return strings.Contains(p.Reason, c.reason) }) {
			t.Errorf("nginx: %s\nproblem at %s does not say %q:\n%v", c.nginx, c.path, c.reason, at)
		}
	}
}

// TestNginxAccepts loads valid nginx sections and checks the defaults
// each gets.
func TestNginxAccepts(t *testing.T) {
	load := func(nginx string) schema.Nginx {
		t.Helper()
		return testenv.Config(t, nil, "immich: nginx: "+nginx).Immich.Nginx
	}

	n := load(`{}`)
	if n.Enabled || n.TLS != "acme" || n.MaxBodySize != "50000M" {
		t.Errorf("disabled defaults: %+v", n)
	}

	n = load(`{enabled: true, hostname: "photos.example.com", acme: email: "admin@example.com"}`)
	a := n.ACME
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"tls", n.TLS, "acme"},
		{"httpPort", n.HTTPPort, 80},
		{"httpsPort", n.HTTPSPort, 443},
		{"ipv6", n.IPv6, false},
		{"http2 (acme)", n.HTTP2, "on"},
		{"hsts.enabled", n.HSTS.Enabled, false},
		{"hsts.maxAge", n.HSTS.MaxAge, 31536000},
		{"webroot", n.Webroot, "/var/www/letsencrypt"},
		{"realIpFrom", len(n.RealIPFrom), 0},
		{"acme.renderIssuer", a.RenderIssuer, true},
		{"acme.issuer", a.Issuer, "letsencrypt"},
		{"acme.staging", a.Staging, false},
		{"acme.directory", a.Directory, ""},
		{"acme.resolver", strings.Join(a.Resolver, " "), "1.1.1.1 9.9.9.9"},
		{"acme.statePath", a.StatePath, "/var/cache/nginx/acme-letsencrypt"},
	} {
		if c.got != c.want {
			t.Errorf("default %s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// Staging gets its own issuer, so its account and certificates never
	// mix with production state.
	a = load(`{enabled: true, hostname: "photos.example.com", acme: {email: "admin@example.com", staging: true}}`).ACME
	if a.Issuer != "letsencrypt-staging" || a.StatePath != "/var/cache/nginx/acme-letsencrypt-staging" {
		t.Errorf("staging issuer %q, statePath %q", a.Issuer, a.StatePath)
	}

	// An issuer defined elsewhere needs no email here.
	a = load(`{enabled: true, hostname: "photos.example.com", acme: {renderIssuer: false, issuer: "le_prod"}}`).ACME
	if a.Issuer != "le_prod" || a.Email != "" {
		t.Errorf("external issuer: %+v", a)
	}

	for mode, want := range map[string]string{`tls: "webroot", acme: email: "a@example.com"`: "off", `tls: "off"`: "off", `tls: "manual", certificate: "/c.pem", certificateKey: "/k.pem"`: "off"} {
		if got := load(`{enabled: true, hostname: "photos.example.com", ` + mode + `}`).HTTP2; got != want {
			t.Errorf("%s: http2 default %q, want %q", mode, got, want)
		}
	}

	// Paths may hold spaces: the renderer quotes them (render's nginx -t
	// tests prove it with a certificate in a folder with a space).
	n = load(`{enabled: true, hostname: "photos.example.com", tls: "manual", certificate: "/etc/my certs/c.pem", certificateKey: "/etc/my certs/k.pem", http2: "listen", ipv6: true, realIpFrom: ["192.0.2.10", "2001:db8::/32", "10.0.0.0/8"], acme: resolver: ["2620:fe::fe"], hsts: {enabled: true, includeSubDomains: true}}`)
	if n.Certificate != "/etc/my certs/c.pem" || n.HTTP2 != "listen" || len(n.RealIPFrom) != 3 || !n.HSTS.IncludeSubDomains {
		t.Errorf("manual: %+v", n)
	}

	if d := load(`{enabled: true, hostname: "photos.example.com", acme: {email: "a@example.com", directory: "https://acme.zerossl.com/v2/DV90"}}`).ACME.Directory; d != "https://acme.zerossl.com/v2/DV90" {
		t.Errorf("directory %q", d)
	}
}
