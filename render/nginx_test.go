package render

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/immich-render/immich-render/internal/testenv"
	"github.com/immich-render/immich-render/schema"
)

// ---------------------------------------------------------------------------
// Reading nginx files the way nginx does.

// ngxDirective is one directive of an nginx file: a simple one, or a block
// with its directives inside.
type ngxDirective struct {
	Name    string
	Args    []string // as nginx sees them, quotes and escapes removed
	Raw     []string // name and arguments as written
	IsBlock bool
	Block   []*ngxDirective
	Line    int
}

// ngxToken is what the tokenizer returns: a word or ';', '{', '}', or EOF.
type ngxToken struct {
	kind byte // 'w', ';', '{', '}', 0 for EOF
	raw  string
	val  string
	line int
}

// ngxTokenize splits src into tokens exactly as nginx's
// ngx_conf_read_token does: '#' starts a comment only at the start of a
// token; a bare word ends at white space, ';' or '{' (a '}' inside a word
// is part of it, "${" is a variable); a quoted word ends at its closing
// quote, which must be followed by white space, ';' or '{'; '\' escapes
// the next character, and \", \', \\, \t, \r, \n are then unescaped.
func ngxTokenize(src string) ([]ngxToken, error) {
	var out []ngxToken
	line := 1
	i := 0
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for i < len(src) {
		c := src[i]
		switch {
		case isSpace(c):
			if c == '\n' {
				line++
			}
			i++
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == ';' || c == '{' || c == '}':
			out = append(out, ngxToken{kind: c, raw: string(c), line: line})
			i++
			continue
		}
		start, startLine := i, line
		var body string
		if c == '"' || c == '\'' {
			q := c
			j := i + 1
			for ; j < len(src); j++ {
				if src[j] == '\\' {
					j++
					continue
				}
				if src[j] == '\n' {
					line++
				}
				if src[j] == q {
					break
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("line %d: unterminated quoted string", startLine)
			}
			body = src[i+1 : j]
			i = j + 1
			if i < len(src) && !isSpace(src[i]) && src[i] != ';' && src[i] != '{' && src[i] != ')' {
				return nil, fmt.Errorf("line %d: unexpected %q after a quoted string", line, src[i])
			}
		} else {
			j := i
			variable := false
			for ; j < len(src); j++ {
				ch := src[j]
				if ch == '{' && variable {
					variable = false
					continue
				}
				variable = false
				if ch == '\\' {
					j++
					continue
				}
				if ch == '$' {
					variable = true
					continue
				}
				if isSpace(ch) || ch == ';' || ch == '{' {
					break
				}
			}
			if j > len(src) {
				j = len(src)
			}
			body = src[i:j]
			i = j
		}
		var val strings.Builder
		for k := 0; k < len(body); k++ {
			if body[k] == '\\' && k+1 < len(body) {
				switch body[k+1] {
				case '"', '\'', '\\':
					k++
				case 't':
					val.WriteByte('\t')
					k++
					continue
				case 'r':
					val.WriteByte('\r')
					k++
					continue
				case 'n':
					val.WriteByte('\n')
					k++
					continue
				}
			}
			val.WriteByte(body[k])
		}
		out = append(out, ngxToken{kind: 'w', raw: src[start:i], val: val.String(), line: startLine})
	}
	return out, nil
}

// parseNginx reads an nginx file into directives.
func parseNginx(src string) ([]*ngxDirective, error) {
	toks, err := ngxTokenize(src)
	if err != nil {
		return nil, err
	}
	pos := 0
	var block func(depth int) ([]*ngxDirective, error)
	block = func(depth int) ([]*ngxDirective, error) {
		var out []*ngxDirective
		var cur *ngxDirective
		for pos < len(toks) {
			t := toks[pos]
			pos++
			switch t.kind {
			case 'w':
				if cur == nil {
					cur = &ngxDirective{Name: t.val, Raw: []string{t.raw}, Line: t.line}
				} else {
					cur.Args = append(cur.Args, t.val)
					cur.Raw = append(cur.Raw, t.raw)
				}
			case ';':
				if cur == nil {
					return nil, fmt.Errorf("line %d: unexpected ;", t.line)
				}
				out = append(out, cur)
				cur = nil
			case '{':
				if cur == nil {
					return nil, fmt.Errorf("line %d: unexpected {", t.line)
				}
				cur.IsBlock = true
				inner, err := block(depth + 1)
				if err != nil {
					return nil, err
				}
				cur.Block = inner
				out = append(out, cur)
				cur = nil
			case '}':
				if cur != nil || depth == 0 {
					return nil, fmt.Errorf("line %d: unexpected }", t.line)
				}
				return out, nil
			}
		}
		if cur != nil || depth != 0 {
			return nil, fmt.Errorf("unexpected end of file")
		}
		return out, nil
	}
	return block(0)
}

// writeNginx prints directives back, with their tokens as written.
func writeNginx(b *strings.Builder, ds []*ngxDirective, depth int) {
	for _, d := range ds {
		b.WriteString(strings.Repeat("    ", depth))
		b.WriteString(strings.Join(d.Raw, " "))
		if d.IsBlock {
			b.WriteString(" {\n")
			writeNginx(b, d.Block, depth+1)
			b.WriteString(strings.Repeat("    ", depth) + "}\n")
		} else {
			b.WriteString(";\n")
		}
	}
}

// mustParse parses an nginx file or fails the test.
func mustParse(t *testing.T, src []byte) []*ngxDirective {
	t.Helper()
	ds, err := parseNginx(string(src))
	if err != nil {
		t.Fatalf("parsing rendered nginx file: %v\n%s", err, src)
	}
	return ds
}

// named returns the directives called name.
func named(ds []*ngxDirective, name string) []*ngxDirective {
	var out []*ngxDirective
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// one returns the only directive called name with the given leading
// arguments, or fails the test.
func one(t *testing.T, ds []*ngxDirective, name string, args ...string) *ngxDirective {
	t.Helper()
	var found []*ngxDirective
	for _, d := range named(ds, name) {
		if len(d.Args) >= len(args) && slices.Equal(d.Args[:len(args)], args) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %q %q directive, found %d", name, args, len(found))
	}
	return found[0]
}

// wantArgs fails the test unless the only directive name has exactly args.
func wantArgs(t *testing.T, ds []*ngxDirective, name string, args ...string) {
	t.Helper()
	d := named(ds, name)
	if len(d) != 1 {
		t.Errorf("want one %s directive, found %d", name, len(d))
		return
	}
	if !slices.Equal(d[0].Args, args) {
		t.Errorf("%s %q, want %q", name, d[0].Args, args)
	}
}

// serverOn returns the server block whose first listen directive is port.
func serverOn(t *testing.T, ds []*ngxDirective, port string) *ngxDirective {
	t.Helper()
	var found []*ngxDirective
	for _, s := range named(ds, "server") {
		if l := named(s.Block, "listen"); len(l) > 0 && l[0].Args[0] == port {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one server listening on %s, found %d", port, len(found))
	}
	return found[0]
}

// proxyHeaders returns a location's proxy_set_header directives as a map.
func proxyHeaders(loc *ngxDirective) map[string]string {
	m := map[string]string{}
	for _, d := range named(loc.Block, "proxy_set_header") {
		m[d.Args[0]] = d.Args[1]
	}
	return m
}

// ---------------------------------------------------------------------------
// The escaping helper.

// nginxRefused reports whether nginxToken must refuse s.
func nginxRefused(s string) bool {
	return s == "" || !utf8.ValidString(s) || strings.ContainsRune(s, '$') || strings.IndexFunc(s, nginxControl) >= 0
}

// checkToken asserts that nginxToken(s) reads back, in a directive, as
// exactly s in one argument, or panics for a value nginx cannot carry.
func checkToken(t *testing.T, s string) {
	t.Helper()
	var tok nginxTok
	panicked := func() (p any) {
		defer func() { p = recover() }()
		tok = nginxToken(s)
		return nil
	}()
	if nginxRefused(s) {
		if panicked == nil {
			t.Fatalf("nginxToken(%q) = %s, want a panic", s, tok)
		}
		return
	}
	if panicked != nil {
		t.Fatalf("nginxToken(%q) panicked: %v", s, panicked)
	}
	src := "x " + string(tok) + ";\n"
	ds, err := parseNginx(src)
	if err != nil {
		t.Fatalf("nginxToken(%q) = %s: %v", s, tok, err)
	}
	if len(ds) != 1 || len(ds[0].Args) != 1 || ds[0].Args[0] != s || ds[0].IsBlock {
		t.Fatalf("nginxToken(%q) = %s reads back as %d directives %+v", s, tok, len(ds), ds[0])
	}
}

var tokenSamples = []string{
	"photos.example.com", "/var/www/letsencrypt", "/etc/my certs/c.pem", "a;b", "a{b", "a}b", "}", "{", ";",
	`a"b`, `a'b`, `"`, `'`, `\`, `a\`, `a\n`, `\"`, "#comment", "a#b", "max-age=1; includeSubDomains",
	"фото", "~regex", "=", " leading", "trailing ", "tab\tinside", "new\nline", "dollar$", "${x}", "", "\x00", "\x7f",
	"\xff", "\u2028", "mailto:a@example.com", "[::1]", "https://acme-v02.api.letsencrypt.org/directory",
}

func TestNginxTokenReadsBack(t *testing.T) {
	for _, s := range tokenSamples {
		checkToken(t, s)
	}
	// A token that needs no quotes stays bare, so the files read naturally.
	for _, s := range []string{"photos.example.com", "/var/www/letsencrypt", "mailto:a@example.com", "50000M"} {
		if got := nginxToken(s); string(got) != s {
			t.Errorf("nginxToken(%q) = %s, want it bare", s, got)
		}
	}
}

func FuzzNginxToken(f *testing.F) {
	for _, s := range tokenSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkToken(t, s) })
}

func TestNginxCommentRefusesLineBreaks(t *testing.T) {
	for _, s := range []string{"a\nserver {", "a\rb", "a\u2028b", "\xff"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("nginxComment(%q) did not panic", s)
				}
			}()
			nginxComment(s)
		}()
	}
	if got := nginxComment(`certbot -d "x"; {}`); got != `# certbot -d "x"; {}` {
		t.Errorf("nginxComment = %q", got)
	}
}

// ---------------------------------------------------------------------------
// Rendering.

const (
	testHost = "photos.example.com"
	confD    = "rootfs/etc/nginx/conf.d/"
)

// nginxFiles renders cfg and returns its nginx files by name in conf.d.
func nginxFiles(t *testing.T, cfg *schema.Config) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range renderNginx(cfg) {
		name, ok := strings.CutPrefix(f.Path, confD)
		if !ok || strings.Contains(name, "/") {
			t.Fatalf("nginx file outside /etc/nginx/conf.d: %s", f.Path)
		}
		if f.Mode != 0o644 {
			t.Errorf("%s has mode %o, want 644", f.Path, f.Mode)
		}
		if !bytes.HasSuffix(f.Data, []byte("\n")) || bytes.Contains(f.Data, []byte("\r")) {
			t.Errorf("%s does not end in a newline or has CR", f.Path)
		}
		out[name] = f.Data
	}
	return out
}

func nginxConfig(t *testing.T, nginx string) *schema.Config {
	t.Helper()
	return testenv.Config(t, nil, "immich: nginx: "+nginx)
}

func TestNginxDisabledRendersNothing(t *testing.T) {
	if files := nginxFiles(t, nginxConfig(t, `{}`)); len(files) != 0 {
		t.Errorf("nginx disabled, but rendered %d files", len(files))
	}
	// Disabled with a complete section (as when switching it off) renders nothing either.
	if files := nginxFiles(t, nginxConfig(t, `{enabled: false, hostname: "photos.example.com", tls: "webroot", acme: email: "a@example.com"}`)); len(files) != 0 {
		t.Errorf("nginx disabled, but rendered %d files", len(files))
	}
}

// checkProxy asserts Immich's recommended settings on the proxying server.
func checkProxy(t *testing.T, srv *ngxDirective, port, proto string) {
	t.Helper()
	wantArgs(t, srv.Block, "server_name", testHost)
	wantArgs(t, srv.Block, "client_max_body_size", "50000M")
	wantArgs(t, srv.Block, "client_body_buffer_size", "1024k")
	wantArgs(t, srv.Block, "proxy_request_buffering", "off")
	wantArgs(t, srv.Block, "proxy_http_version", "1.1")
	wantArgs(t, srv.Block, "proxy_redirect", "off")
	wantArgs(t, srv.Block, "proxy_read_timeout", "600s")
	wantArgs(t, srv.Block, "proxy_send_timeout", "600s")
	wantArgs(t, srv.Block, "send_timeout", "600s")
	// proxy_set_header at server level would be lost in a location that
	// sets its own: all of them live in the one location.
	if len(named(srv.Block, "proxy_set_header")) != 0 {
		t.Errorf("proxy_set_header at server level")
	}
	if locs := named(srv.Block, "location"); len(locs) != 1 {
		t.Fatalf("want one location (/), found %d: /.well-known/immich must reach Immich", len(locs))
	}
	loc := one(t, srv.Block, "location", "/")
	wantArgs(t, loc.Block, "proxy_pass", "http://127.0.0.1:"+port)
	h := proxyHeaders(loc)
	want := map[string]string{
		"Host": "$host", "X-Real-IP": "$remote_addr", "X-Forwarded-For": "$proxy_add_x_forwarded_for",
		"X-Forwarded-Proto": proto, "Upgrade": "$http_upgrade", "Connection": "$immich_connection_upgrade",
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("proxy_set_header %v, want %v", h, want)
	}
}

// checkTLS asserts the modern TLS settings on the HTTPS server.
func checkTLS(t *testing.T, srv *ngxDirective) {
	t.Helper()
	wantArgs(t, srv.Block, "ssl_protocols", "TLSv1.2", "TLSv1.3")
	wantArgs(t, srv.Block, "ssl_prefer_server_ciphers", "off")
	wantArgs(t, srv.Block, "ssl_session_tickets", "off")
	c := named(srv.Block, "ssl_ciphers")
	if len(c) != 1 || strings.Contains(c[0].Args[0], "CBC") || strings.Contains(c[0].Args[0], "SHA:") || !strings.HasPrefix(c[0].Args[0], "ECDHE-") {
		t.Errorf("ssl_ciphers not the modern AEAD list: %v", c)
	}
}

// checkRedirect asserts the port-80 server of a TLS mode.
func checkRedirect(t *testing.T, ds []*ngxDirective, target string) *ngxDirective {
	t.Helper()
	srv := serverOn(t, ds, "80")
	wantArgs(t, srv.Block, "server_name", testHost)
	loc := one(t, srv.Block, "location", "/")
	wantArgs(t, loc.Block, "return", "301", target)
	return srv
}

// checkUpgradeMap asserts the websocket map, under a name only Immich uses.
func checkUpgradeMap(t *testing.T, ds []*ngxDirective) {
	t.Helper()
	m := one(t, ds, "map", "$http_upgrade", "$immich_connection_upgrade")
	if len(m.Block) != 2 || m.Block[0].Name != "default" || m.Block[0].Args[0] != "upgrade" || m.Block[1].Name != "" || m.Block[1].Args[0] != "close" {
		t.Errorf("map $http_upgrade: %+v %+v", m.Block[0], m.Block[1])
	}
}

func TestNginxACMEStructure(t *testing.T) {
	files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", acme: email: "admin@example.com"}`))
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, []string{"acme-letsencrypt.conf", "immich.conf"}) {
		t.Fatalf("files %v", got)
	}
	vhost := mustParse(t, files["immich.conf"])
	checkUpgradeMap(t, vhost)
	if len(named(vhost, "server")) != 2 || len(vhost) != 3 {
		t.Errorf("want the map and two servers at http level, got %d directives", len(vhost))
	}
	// Port 80: the module answers challenges itself, so only the redirect.
	http := checkRedirect(t, vhost, "https://$server_name$request_uri")
	if len(named(http.Block, "location")) != 1 {
		t.Errorf("port-80 server of tls acme has more than the redirect location")
	}
	srv := serverOn(t, vhost, "443")
	wantArgs(t, srv.Block, "listen", "443", "ssl")
	wantArgs(t, srv.Block, "http2", "on")
	wantArgs(t, srv.Block, "acme_certificate", "letsencrypt")
	wantArgs(t, srv.Block, "ssl_certificate", "$acme_certificate")
	wantArgs(t, srv.Block, "ssl_certificate_key", "$acme_certificate_key")
	wantArgs(t, srv.Block, "ssl_certificate_cache", "max=2")
	if len(named(srv.Block, "add_header")) != 0 || len(named(srv.Block, "set_real_ip_from")) != 0 {
		t.Errorf("HSTS or real_ip rendered without being asked for")
	}
	checkTLS(t, srv)
	checkProxy(t, srv, "2283", "$scheme")
	// The http-level ACME directives are the issuer file's, never the vhost's.
	for _, name := range []string{"acme_issuer", "acme_shared_zone", "resolver"} {
		if len(named(vhost, name)) != 0 {
			t.Errorf("%s in immich.conf", name)
		}
	}

	issuer := mustParse(t, files["acme-letsencrypt.conf"])
	if len(issuer) != 3 {
		t.Errorf("issuer file: want resolver, acme_shared_zone and acme_issuer, got %d directives", len(issuer))
	}
	wantArgs(t, issuer, "resolver", "1.1.1.1", "9.9.9.9", "ipv6=off")
	wantArgs(t, issuer, "acme_shared_zone", "zone=ngx_acme_shared:1M")
	iss := one(t, issuer, "acme_issuer", "letsencrypt")
	if len(iss.Args) != 1 || !iss.IsBlock {
		t.Fatalf("acme_issuer %+v", iss)
	}
	wantArgs(t, iss.Block, "uri", "https://acme-v02.api.letsencrypt.org/directory")
	wantArgs(t, iss.Block, "contact", "mailto:admin@example.com")
	wantArgs(t, iss.Block, "state_path", "/var/cache/nginx/acme-letsencrypt")
	wantArgs(t, iss.Block, "accept_terms_of_service")
	if len(iss.Block) != 4 {
		t.Errorf("acme_issuer has %d directives, want 4", len(iss.Block))
	}
}

func TestNginxACMEVariants(t *testing.T) {
	t.Run("staging", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", acme: {email: "admin@example.com", staging: true}}`))
		issuer := mustParse(t, files["acme-letsencrypt-staging.conf"])
		iss := one(t, issuer, "acme_issuer", "letsencrypt-staging")
		wantArgs(t, iss.Block, "uri", "https://acme-staging-v02.api.letsencrypt.org/directory")
		wantArgs(t, iss.Block, "state_path", "/var/cache/nginx/acme-letsencrypt-staging")
		wantArgs(t, serverOn(t, mustParse(t, files["immich.conf"]), "443").Block, "acme_certificate", "letsencrypt-staging")
	})
	t.Run("directory, IPv6 resolver and listeners", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", ipv6: true, acme: {email: "admin@example.com", issuer: "zerossl", directory: "https://acme.zerossl.com/v2/DV90", resolver: ["2620:fe::fe", "9.9.9.9"], statePath: "/srv/acme state"}}`))
		issuer := mustParse(t, files["acme-zerossl.conf"])
		// A bare IPv6 address would be read as host:port; IPv6 answers are wanted now.
		wantArgs(t, issuer, "resolver", "[2620:fe::fe]", "9.9.9.9")
		iss := one(t, issuer, "acme_issuer", "zerossl")
		wantArgs(t, iss.Block, "uri", "https://acme.zerossl.com/v2/DV90")
		wantArgs(t, iss.Block, "state_path", "/srv/acme state")
		vhost := mustParse(t, files["immich.conf"])
		srv := serverOn(t, vhost, "443")
		if l := named(srv.Block, "listen"); len(l) != 2 || !slices.Equal(l[1].Args, []string{"[::]:443", "ssl"}) {
			t.Errorf("IPv6 TLS listener: %v", l)
		}
		if l := named(serverOn(t, vhost, "80").Block, "listen"); len(l) != 2 || !slices.Equal(l[1].Args, []string{"[::]:80"}) {
			t.Errorf("IPv6 HTTP listener: %v", l)
		}
	})
	t.Run("issuer defined elsewhere", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", acme: {renderIssuer: false, issuer: "site_le"}}`))
		if len(files) != 1 {
			t.Fatalf("rendered %v, want immich.conf only", slices.Sorted(maps.Keys(files)))
		}
		wantArgs(t, serverOn(t, mustParse(t, files["immich.conf"]), "443").Block, "acme_certificate", "site_le")
	})
	t.Run("no resolver", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", acme: {email: "a@example.com", resolver: []}}`))
		if r := named(mustParse(t, files["acme-letsencrypt.conf"]), "resolver"); len(r) != 0 {
			t.Errorf("resolver rendered: %v", r)
		}
	})
}

func TestNginxOtherModesStructure(t *testing.T) {
	t.Run("webroot", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", tls: "webroot", acme: email: "admin@example.com", hsts: {enabled: true, includeSubDomains: true}}`))
		if len(files) != 1 {
			t.Fatalf("rendered %v, want immich.conf only", slices.Sorted(maps.Keys(files)))
		}
		vhost := mustParse(t, files["immich.conf"])
		checkUpgradeMap(t, vhost)
		http := checkRedirect(t, vhost, "https://$server_name$request_uri")
		ch := one(t, http.Block, "location", "^~", "/.well-known/acme-challenge/")
		wantArgs(t, ch.Block, "root", "/var/www/letsencrypt")
		srv := serverOn(t, vhost, "443")
		wantArgs(t, srv.Block, "listen", "443", "ssl")
		wantArgs(t, srv.Block, "ssl_certificate", "/etc/letsencrypt/live/photos.example.com/fullchain.pem")
		wantArgs(t, srv.Block, "ssl_certificate_key", "/etc/letsencrypt/live/photos.example.com/privkey.pem")
		wantArgs(t, srv.Block, "add_header", "Strict-Transport-Security", "max-age=31536000; includeSubDomains", "always")
		if len(named(srv.Block, "http2")) != 0 || len(named(srv.Block, "acme_certificate")) != 0 {
			t.Errorf("http2 or ACME in a webroot vhost")
		}
		checkTLS(t, srv)
		checkProxy(t, srv, "2283", "$scheme")
	})
	t.Run("manual", func(t *testing.T) {
		files := nginxFiles(t, testenv.Config(t, nil, `immich: port: 3001`, `immich: nginx: {enabled: true, hostname: "photos.example.com", tls: "manual", certificate: "/etc/my certs/c.pem", certificateKey: "/etc/my certs/k.pem", httpPort: 8080, httpsPort: 8443, http2: "listen"}`))
		vhost := mustParse(t, files["immich.conf"])
		http := serverOn(t, vhost, "8080")
		wantArgs(t, one(t, http.Block, "location", "/").Block, "return", "301", "https://$server_name:8443$request_uri")
		srv := serverOn(t, vhost, "8443")
		wantArgs(t, srv.Block, "listen", "8443", "ssl", "http2")
		wantArgs(t, srv.Block, "ssl_certificate", "/etc/my certs/c.pem")
		wantArgs(t, srv.Block, "ssl_certificate_key", "/etc/my certs/k.pem")
		checkTLS(t, srv)
		checkProxy(t, srv, "3001", "$scheme")
	})
	t.Run("off", func(t *testing.T) {
		files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", tls: "off", realIpFrom: ["192.0.2.10", "2001:db8::/32"]}`))
		vhost := mustParse(t, files["immich.conf"])
		if len(named(vhost, "server")) != 1 {
			t.Fatalf("tls off: want one server, no redirect")
		}
		srv := serverOn(t, vhost, "80")
		for _, d := range []string{"ssl_certificate", "ssl_protocols", "add_header", "return", "http2"} {
			if len(named(srv.Block, d)) != 0 {
				t.Errorf("%s with tls off", d)
			}
		}
		if r := named(srv.Block, "set_real_ip_from"); len(r) != 2 || r[0].Args[0] != "192.0.2.10" || r[1].Args[0] != "2001:db8::/32" {
			t.Errorf("set_real_ip_from %v", r)
		}
		wantArgs(t, srv.Block, "real_ip_header", "X-Forwarded-For")
		wantArgs(t, srv.Block, "real_ip_recursive", "on")
		checkProxy(t, srv, "2283", "$http_x_forwarded_proto")
	})
}

func TestNginxDeterministic(t *testing.T) {
	cfg := nginxConfig(t, `{enabled: true, hostname: "photos.example.com", ipv6: true, realIpFrom: ["10.0.0.0/8", "192.0.2.1"], acme: email: "admin@example.com", hsts: enabled: true}`)
	a, b := nginxFiles(t, cfg), nginxFiles(t, cfg)
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two renders", name)
		}
	}
}

// ---------------------------------------------------------------------------
// nginx -t and a running nginx.

// nginxVersion returns the installed nginx's version as [major, minor, patch].
func nginxVersion(t *testing.T, bin string) [3]int {
	t.Helper()
	out, err := exec.Command(bin, "-v").CombinedOutput()
	m := regexp.MustCompile(`nginx/(\d+)\.(\d+)\.(\d+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("nginx -v: %v: %s", err, out)
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(string(m[i+1]))
	}
	return v
}

func versionAtLeast(v [3]int, major, minor, patch int) bool {
	return slices.Compare(v[:], []int{major, minor, patch}) >= 0
}

// nginxPrefix is a throwaway nginx installation: nginx.conf, conf.d/ and
// every path nginx writes, inside a temporary folder.
type nginxPrefix struct {
	dir, confD string
}

func newNginxPrefix(t *testing.T) *nginxPrefix {
	t.Helper()
	p := &nginxPrefix{dir: t.TempDir()}
	p.confD = filepath.Join(p.dir, "conf.d")
	for _, d := range []string{p.confD, filepath.Join(p.dir, "temp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// writeMain writes a minimal nginx.conf that includes conf.d/*.conf in
// http {}, as Debian's and nginx.org's do. live runs nginx in the
// foreground.
func (p *nginxPrefix) writeMain(t *testing.T, live bool) string {
	t.Helper()
	q := func(name string) string { return string(nginxToken(filepath.Join(p.dir, name))) }
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n") // workers read files in the 0700 temp folder
	}
	if live {
		b.WriteString("daemon off;\n")
	}
	fmt.Fprintf(&b, "worker_processes 1;\npid %s;\nerror_log %s;\nevents { worker_connections 64; }\nhttp {\n", q("nginx.pid"), q("error.log"))
	fmt.Fprintf(&b, "    access_log %s;\n", q("access.log"))
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s;\n", tmp, q("temp/"+tmp))
	}
	fmt.Fprintf(&b, "    include %s;\n}\n", q("conf.d/*.conf"))
	conf := filepath.Join(p.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// add writes a file into conf.d.
func (p *nginxPrefix) add(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.confD, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nginxTest runs `nginx -t` on the prefix and fails on an error or on a
// warning other than those allowed.
func nginxTest(t *testing.T, bin string, p *nginxPrefix, allowWarn ...string) {
	t.Helper()
	conf := p.writeMain(t, false)
	cmd := exec.Command(bin, "-t", "-q", "-p", p.dir+"/", "-c", conf, "-e", filepath.Join(p.dir, "error.log"))
	out, err := cmd.CombinedOutput()
	files, _ := filepath.Glob(filepath.Join(p.confD, "*"))
	var dump strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&dump, "---- %s\n%s", filepath.Base(f), data)
	}
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, dump.String())
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "[warn]") && !slices.ContainsFunc(allowWarn, func(w string) bool { return strings.Contains(line, w) }) {
			t.Errorf("nginx -t warns: %s\n%s", line, dump.String())
		}
	}
}

// selfSigned writes a throwaway certificate for host and its key.
func selfSigned(t *testing.T, certFile, keyFile, host string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// letsEncryptLive moves a webroot vhost's certificate paths, which are
// certbot's absolute /etc/letsencrypt/live/<host>/, into dir in the test's
// copy, and fails if the rendered file does not use exactly those.
func letsEncryptLive(t *testing.T, vhost []byte, dir string) []byte {
	t.Helper()
	live := "/etc/letsencrypt/live/" + testHost + "/"
	want := map[string]string{"ssl_certificate": "fullchain.pem", "ssl_certificate_key": "privkey.pem"}
	moved := 0
	var walk func(ds []*ngxDirective)
	walk = func(ds []*ngxDirective) {
		for _, d := range ds {
			if file, ok := want[d.Name]; ok {
				if !slices.Equal(d.Args, []string{live + file}) {
					t.Fatalf("webroot vhost: %s %q, want %s", d.Name, d.Args, live+file)
				}
				d.Raw = []string{d.Name, string(nginxToken(filepath.Join(dir, file)))}
				moved++
			}
			walk(d.Block)
		}
	}
	ds := mustParse(t, vhost)
	walk(ds)
	if moved != 2 {
		t.Fatalf("webroot vhost has %d certificate directives, want 2", moved)
	}
	var b strings.Builder
	writeNginx(&b, ds, 0)
	return []byte(b.String())
}

// stripACME turns an acme vhost or issuer file into one that nginx without
// the module accepts: the module's directives go, the certificate comes
// from files, and directives newer than the installed nginx go too.
func stripACME(t *testing.T, src []byte, cert, key string, v [3]int) []byte {
	t.Helper()
	var walk func(ds []*ngxDirective) []*ngxDirective
	walk = func(ds []*ngxDirective) []*ngxDirective {
		var out []*ngxDirective
		for _, d := range ds {
			switch {
			case d.Name == "acme_issuer" || d.Name == "acme_shared_zone" || d.Name == "acme_certificate":
				continue
			case d.Name == "ssl_certificate_cache" && !versionAtLeast(v, 1, 27, 4):
				continue
			case d.Name == "http2" && !versionAtLeast(v, 1, 25, 1):
				continue
			case d.Name == "ssl_certificate" && slices.Equal(d.Args, []string{"$acme_certificate"}):
				d.Raw = []string{"ssl_certificate", string(nginxToken(cert))}
			case d.Name == "ssl_certificate_key" && slices.Equal(d.Args, []string{"$acme_certificate_key"}):
				d.Raw = []string{"ssl_certificate_key", string(nginxToken(key))}
			}
			d.Block = walk(d.Block)
			out = append(out, d)
		}
		return out
	}
	var b strings.Builder
	writeNginx(&b, walk(mustParse(t, src)), 0)
	return []byte(b.String())
}

// otherVhost is what another site on the same host commonly has at http
// level: the rendered vhost must not clash with it.
const otherVhost = `map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}
server {
    listen 80;
    server_name other.example.com;
    location / { return 204; }
}
`

func TestNginxConfigTest(t *testing.T) {
	bin := testenv.Binary(t, "nginx")
	v := nginxVersion(t, bin)
	listenHTTP2Warn := "the \"listen ... http2\" directive is deprecated"

	for _, c := range []struct {
		name, nginx string
		warn        []string
	}{
		{name: "webroot", nginx: `tls: "webroot", acme: email: "admin@example.com"`},
		{name: "webroot all options", nginx: `tls: "webroot", acme: email: "admin@example.com", webroot: "/srv/le root", ipv6: true, http2: "listen", hsts: {enabled: true, includeSubDomains: true, maxAge: 63072000}, httpPort: 8080, httpsPort: 8443, maxBodySize: "10g", realIpFrom: ["10.0.0.0/8", "2001:db8::1"]`, warn: []string{listenHTTP2Warn}},
		{name: "manual", nginx: `tls: "manual"`},
		{name: "manual all options", nginx: `tls: "manual", ipv6: true, http2: "listen", hsts: enabled: true, realIpFrom: ["192.0.2.1"]`, warn: []string{listenHTTP2Warn}},
		{name: "off", nginx: `tls: "off"`},
		{name: "off all options", nginx: `tls: "off", ipv6: true, httpPort: 8080, realIpFrom: ["192.0.2.0/24", "::1"], maxBodySize: "1024"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newNginxPrefix(t)
			// Manual certificates live in a folder with a space: the
			// rendered paths must be quoted for nginx to find them.
			certDir := filepath.Join(p.dir, "my certs")
			cert, key := filepath.Join(certDir, "fullchain.pem"), filepath.Join(certDir, "privkey.pem")
			selfSigned(t, cert, key, testHost)
			nginx := `{enabled: true, hostname: "photos.example.com", ` + c.nginx + `}`
			if strings.Contains(c.nginx, `"manual"`) {
				nginx = fmt.Sprintf(`{enabled: true, hostname: "photos.example.com", certificate: %q, certificateKey: %q, %s}`, cert, key, c.nginx)
			}
			files := nginxFiles(t, nginxConfig(t, nginx))
			vhost := files["immich.conf"]
			if strings.Contains(c.nginx, `"manual"`) && !bytes.Contains(vhost, []byte(`"`+cert+`"`)) {
				t.Fatalf("certificate path with a space is not quoted:\n%s", vhost)
			}
			if strings.Contains(c.nginx, `"webroot"`) {
				vhost = letsEncryptLive(t, vhost, certDir)
			}
			p.add(t, "immich.conf", vhost)
			p.add(t, "other.conf", []byte(otherVhost))
			if !versionAtLeast(v, 1, 25, 1) {
				c.warn = nil // older nginx has no warning to allow
			}
			nginxTest(t, bin, p, c.warn...)
		})
	}

	// The check must be able to fail: a vhost nginx refuses.
	t.Run("broken vhost fails", func(t *testing.T) {
		p := newNginxPrefix(t)
		p.add(t, "immich.conf", []byte("server { listen 80; proxy_pass; }\n"))
		conf := p.writeMain(t, false)
		if out, err := exec.Command(bin, "-t", "-q", "-p", p.dir+"/", "-c", conf, "-e", filepath.Join(p.dir, "error.log")).CombinedOutput(); err == nil {
			t.Errorf("nginx -t accepted a broken vhost: %s", out)
		}
	})
}

// TestNginxConfigTestACME runs nginx -t on the acme vhost and issuer file
// with the module's directives taken out (Debian's nginx has no
// ngx_http_acme_module): everything else, the resolver line included,
// is checked by nginx itself.
func TestNginxConfigTestACME(t *testing.T) {
	bin := testenv.Binary(t, "nginx")
	v := nginxVersion(t, bin)
	for _, c := range []struct{ name, acme string }{
		{"defaults", `acme: email: "admin@example.com"`},
		{"IPv6 and staging", `ipv6: true, hsts: enabled: true, acme: {email: "admin@example.com", staging: true, resolver: ["2620:fe::fe", "9.9.9.9"]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newNginxPrefix(t)
			cert, key := filepath.Join(p.dir, "cert.pem"), filepath.Join(p.dir, "key.pem")
			selfSigned(t, cert, key, testHost)
			files := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", `+c.acme+`}`))
			if len(files) != 2 {
				t.Fatalf("want immich.conf and the issuer file, got %v", slices.Sorted(maps.Keys(files)))
			}
			for name, data := range files {
				stripped := stripACME(t, data, cert, key, v)
				if bytes.Contains(stripped, []byte("acme_")) {
					t.Fatalf("%s still has ACME directives:\n%s", name, stripped)
				}
				p.add(t, name, stripped)
			}
			p.add(t, "other.conf", []byte(otherVhost))
			nginxTest(t, bin, p)
		})
	}
}

// TestNginxConfigTestDebian runs nginx -t with the host's own Debian
// nginx.conf and default site (listen 80 default_server, IPv6 too, and an
// http-level ssl_protocols), paths moved into a temporary folder: the
// rendered files must fit the nginx.conf they are deployed into, through
// its include of conf.d/*.conf.
func TestNginxConfigTestDebian(t *testing.T) {
	bin := testenv.Binary(t, "nginx")
	const etc = "/etc/nginx/"
	if _, err := os.Stat(etc + "sites-enabled/default"); err != nil {
		testenv.Skip(t, "no Debian nginx configuration in /etc/nginx: "+err.Error())
	}
	for _, mode := range []string{
		`tls: "webroot", acme: email: "admin@example.com", ipv6: true, hsts: enabled: true`,
		`tls: "off", ipv6: true`,
	} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			moved := strings.NewReplacer(etc, dir+"/", "/var/log/nginx/", dir+"/log/", "/run/nginx.pid", dir+"/nginx.pid")
			copyConf := func(name string) {
				data, err := os.ReadFile(etc + name) // follows sites-enabled's symlink
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(moved.Replace(string(data))), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range []string{"log", "conf.d", "modules-enabled"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			copyConf("nginx.conf")
			copyConf("mime.types")
			copyConf("sites-enabled/default")
			mods, _ := filepath.Glob(etc + "modules-enabled/*.conf")
			for _, m := range mods {
				copyConf(strings.TrimPrefix(m, etc))
			}
			if strings.Contains(mustRead(t, filepath.Join(dir, "nginx.conf")), etc) {
				t.Fatalf("nginx.conf still refers to %s", etc)
			}

			certDir := filepath.Join(dir, "le")
			selfSigned(t, filepath.Join(certDir, "fullchain.pem"), filepath.Join(certDir, "privkey.pem"), testHost)
			vhost := nginxFiles(t, nginxConfig(t, `{enabled: true, hostname: "photos.example.com", `+mode+`}`))["immich.conf"]
			if strings.Contains(mode, "webroot") {
				vhost = letsEncryptLive(t, vhost, certDir)
			}
			if err := os.WriteFile(filepath.Join(dir, "conf.d", "immich.conf"), vhost, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-t", "-q", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "log", "error.log")).CombinedOutput()
			if err != nil || strings.Contains(string(out), "[warn]") {
				t.Fatalf("nginx -t with Debian's nginx.conf: %v\n%s\n%s", err, out, vhost)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// ---------------------------------------------------------------------------
// A running nginx in front of a stand-in for Immich.

// immichStandIn records what reaches "Immich".
type immichStandIn struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last *http.Request
	body int64
}

func newImmichStandIn(t *testing.T) *immichStandIn {
	s := &immichStandIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.last, s.body = r, n
		s.mu.Unlock()
		switch {
		case r.Header.Get("Upgrade") == "websocket":
			// Switch protocols and echo: the websocket path end to end.
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			rw.Flush()
			line, _ := rw.ReadString('\n')
			rw.WriteString("echo " + line)
			rw.Flush()
		case r.URL.Path == "/.well-known/immich":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"api":{"endpoint":"/api"}}`)
		default:
			fmt.Fprintf(w, "immich %s %d", r.URL.Path, n)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *immichStandIn) port() int { return s.srv.Listener.Addr().(*net.TCPAddr).Port }

func (s *immichStandIn) lastRequest() (*http.Request, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.body
}

// freePort returns a TCP port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground on the prefix until the test
// ends, and waits until it accepts connections on port.
func startNginx(t *testing.T, bin string, p *nginxPrefix, port int) {
	t.Helper()
	conf := p.writeMain(t, true)
	cmd := exec.Command(bin, "-p", p.dir+"/", "-c", conf, "-e", filepath.Join(p.dir, "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when nginx has exited; waitErr is then its status.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // our own nginx master, by its pid
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", waitErr, out.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %d", port)
		}
	}
}

// client sends every request for testHost to nginx on loopback and trusts
// only the throwaway certificate.
func client(cert *x509.Certificate, maxTLS uint16) *http.Client {
	pool := x509.NewCertPool()
	if cert != nil {
		pool.AddCert(cert)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: testHost, MaxVersion: maxTLS},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestNginxServesImmich runs the rendered vhost in a real nginx, in front
// of a stand-in for Immich, and checks what clients and Immich see:
// redirects, certbot challenges, the proxied headers, a body larger than
// nginx's 1 MB default, /.well-known/immich, a websocket upgrade and HSTS.
func TestNginxServesImmich(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx servers; skipped with -short")
	}
	bin := testenv.Binary(t, "nginx")
	for _, mode := range []string{"webroot", "manual", "off"} {
		t.Run(mode, func(t *testing.T) {
			immich := newImmichStandIn(t)
			p := newNginxPrefix(t)
			httpPort, httpsPort := freePort(t), freePort(t)
			certDir := filepath.Join(p.dir, "my certs")
			certFile, keyFile := filepath.Join(certDir, "fullchain.pem"), filepath.Join(certDir, "privkey.pem")
			webroot := filepath.Join(p.dir, "webroot")
			var cert *x509.Certificate
			if mode != "off" {
				cert = selfSigned(t, certFile, keyFile, testHost)
			}
			extra := ""
			switch mode {
			case "webroot":
				extra = fmt.Sprintf(`webroot: %q, acme: email: "admin@example.com", hsts: {enabled: true, includeSubDomains: true}`, webroot)
			case "manual":
				extra = fmt.Sprintf(`certificate: %q, certificateKey: %q`, certFile, keyFile)
			case "off":
				extra = `realIpFrom: ["127.0.0.1"]`
			}
			cfg := testenv.Config(t, nil,
				fmt.Sprintf("immich: port: %d", immich.port()),
				fmt.Sprintf(`immich: nginx: {enabled: true, hostname: %q, tls: %q, httpPort: %d, httpsPort: %d}`, testHost, mode, httpPort, httpsPort),
				"immich: nginx: {"+extra+"}")
			vhost := nginxFiles(t, cfg)["immich.conf"]
			if mode == "webroot" {
				vhost = letsEncryptLive(t, vhost, certDir)
			}
			p.add(t, "immich.conf", vhost)
			startNginx(t, bin, p, httpPort)

			c := client(cert, 0)
			base := "https://" + testHost + ":" + strconv.Itoa(httpsPort)
			proto := "https"
			if mode == "off" {
				base = "http://" + testHost + ":" + strconv.Itoa(httpPort)
			} else {
				// Port 80 sends everything to HTTPS, path and query kept.
				resp, _ := get(t, c, "http://"+testHost+":"+strconv.Itoa(httpPort)+"/photos/x?y=1", nil)
				if want := base + "/photos/x?y=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
					t.Errorf("http: %d %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
				}
			}

			if mode == "webroot" {
				token := filepath.Join(webroot, ".well-known", "acme-challenge", "tok-123")
				if err := os.MkdirAll(filepath.Dir(token), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(token, []byte("tok-123.thumbprint"), 0o644); err != nil {
					t.Fatal(err)
				}
				resp, body := get(t, c, "http://"+testHost+":"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/tok-123", nil)
				if resp.StatusCode != 200 || body != "tok-123.thumbprint" {
					t.Errorf("certbot challenge: %d %q", resp.StatusCode, body)
				}
				if resp, _ := get(t, c, "http://"+testHost+":"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/missing", nil); resp.StatusCode != 404 {
					t.Errorf("missing challenge: %d, want 404", resp.StatusCode)
				}
			}

			// /.well-known/immich reaches Immich, with the forwarded headers.
			hdr := map[string]string{}
			if mode == "off" {
				// The TLS terminator in front says what the client used and who it is.
				hdr = map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
			}
			resp, body := get(t, c, base+"/.well-known/immich", hdr)
			if resp.StatusCode != 200 || body != `{"api":{"endpoint":"/api"}}` {
				t.Errorf("/.well-known/immich: %d %q", resp.StatusCode, body)
			}
			r, _ := immich.lastRequest()
			clientIP := "127.0.0.1"
			if mode == "off" {
				clientIP = "203.0.113.7" // set_real_ip_from 127.0.0.1 trusts the header
			}
			for k, want := range map[string]string{"X-Forwarded-Proto": proto, "X-Real-Ip": clientIP} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("Immich sees %s %q, want %q", k, got, want)
				}
			}
			if r.Host != testHost {
				t.Errorf("Immich sees Host %q, want %q", r.Host, testHost)
			}
			if xff := r.Header.Get("X-Forwarded-For"); !strings.HasSuffix(xff, clientIP) {
				t.Errorf("Immich sees X-Forwarded-For %q, want it to end in %s", xff, clientIP)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); (mode == "webroot") != (got == "max-age=31536000; includeSubDomains") {
				t.Errorf("Strict-Transport-Security %q in mode %s", got, mode)
			}

			// An upload larger than nginx's default 1 MB limit reaches Immich whole.
			upload := bytes.Repeat([]byte("x"), 3<<20)
			req, _ := http.NewRequest(http.MethodPost, base+"/api/assets", bytes.NewReader(upload))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			resp.Body.Close()
			if _, n := immich.lastRequest(); resp.StatusCode != 200 || n != int64(len(upload)) {
				t.Errorf("upload of %d bytes: status %d, Immich got %d bytes", len(upload), resp.StatusCode, n)
			}

			// A websocket upgrade goes through and carries data both ways.
			checkWebsocket(t, mode != "off", httpPort, httpsPort, cert)

			if mode != "off" {
				// TLS 1.2 is still offered for older clients.
				if _, err := client(cert, tls.VersionTLS12).Get(base + "/"); err != nil {
					t.Errorf("TLS 1.2 client: %v", err)
				}
			}
		})
	}
}

// checkWebsocket sends a websocket handshake through nginx and echoes a
// line through the upgraded connection.
func checkWebsocket(t *testing.T, useTLS bool, httpPort, httpsPort int, cert *x509.Certificate) {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		conn, err = tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(httpsPort), &tls.Config{RootCAs: pool, ServerName: testHost})
	} else {
		conn, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(httpPort))
	}
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", testHost)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("websocket handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: %s, want 101", resp.Status)
	}
	fmt.Fprint(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Errorf("through the websocket: %q, %v", line, err)
	}
}

// TestNginxTokenInRealNginx has a real nginx return values quoted by
// nginxToken, so the helper is checked against nginx's own tokenizer, not
// only the test's copy of it.
func TestNginxTokenInRealNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an nginx server; skipped with -short")
	}
	bin := testenv.Binary(t, "nginx")
	p := newNginxPrefix(t)
	port := freePort(t)
	var values []string
	for _, s := range tokenSamples {
		if !nginxRefused(s) {
			values = append(values, s)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server {\n    listen 127.0.0.1:%d;\n    default_type text/plain;\n", port)
	for i, s := range values {
		fmt.Fprintf(&b, "    location = /%d { return 200 %s; }\n", i, nginxToken(s))
	}
	b.WriteString("}\n")
	p.add(t, "tokens.conf", []byte(b.String()))
	startNginx(t, bin, p, port)
	c := client(nil, 0)
	for i, s := range values {
		if _, body := get(t, c, fmt.Sprintf("http://%s:%d/%d", testHost, port, i), nil); body != s {
			t.Errorf("nginx read nginxToken(%q) = %s as %q", s, nginxToken(s), body)
		}
	}
}
