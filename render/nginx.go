package render

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/immich-render/immich-render/internal/tree"
	"github.com/immich-render/immich-render/schema"
)

// nginxVhostPath is the vhost path the README promises. Debian's and nginx.org's
// nginx.conf both include /etc/nginx/conf.d/*.conf inside http {}.
const nginxVhostPath = "/etc/nginx/conf.d/immich.conf"

// nginxACMEIssuerPath is where a rendered ACME issuer lives: its own file,
// so that other vhosts on the host can use the issuer as well.
func nginxACMEIssuerPath(issuer string) string {
	return "/etc/nginx/conf.d/acme-" + issuer + ".conf"
}

// Let's Encrypt's ACME directories.
const (
	letsEncryptDirectory        = "https://acme-v02.api.letsencrypt.org/directory"
	letsEncryptStagingDirectory = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// nginxCiphers is Mozilla's "intermediate" TLS 1.2 cipher list without the
// DHE suites, which would need a dhparam file (TLS 1.3 suites are not
// configured by ssl_ciphers).
const nginxCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

// renderNginx renders the nginx vhost when nginx is enabled, and the ACME
// issuer when the vhost uses one that immich-render owns.
func renderNginx(cfg *schema.Config) []tree.File {
	n := cfg.Immich.Nginx
	if !n.Enabled {
		return nil
	}
	files := []tree.File{file(rootfs(nginxVhostPath), nginxVhost(cfg), 0o644)}
	if n.TLS == "acme" && n.ACME.RenderIssuer {
		files = append(files, file(rootfs(nginxACMEIssuerPath(n.ACME.Issuer)), nginxACMEIssuer(n), 0o644))
	}
	return files
}

// nginxVhost renders immich.conf: the port-80 server (a redirect to HTTPS,
// plus certbot's challenges with tls webroot) and the server that proxies
// to Immich, with Immich's recommended settings.
func nginxVhost(cfg *schema.Config) []byte {
	n := cfg.Immich.Nginx
	w := &nginxWriter{}
	w.comment(Notice)
	w.comment("Immich at " + n.Hostname + ".")
	switch n.TLS {
	case "acme":
		w.comment("TLS: certificates from nginx's native ACME module (ngx_http_acme_module), issuer " + n.ACME.Issuer + ".")
		if n.ACME.RenderIssuer {
			w.comment("The issuer is defined in " + nginxACMEIssuerPath(n.ACME.Issuer) + ".")
		} else {
			w.comment("The issuer " + n.ACME.Issuer + " (acme_issuer, with a resolver) must be defined elsewhere at http level.")
		}
		w.comment("Needs nginx >= 1.27.4 and \"load_module modules/ngx_http_acme_module.so;\" in nginx.conf.")
	case "webroot":
		w.comment("TLS: certbot with the webroot " + n.Webroot + ". Get the first certificate with")
		w.comment("  certbot certonly --webroot -w " + n.Webroot + " -d " + n.Hostname + " -m " + n.ACME.Email + " --agree-tos")
		w.comment("nginx refuses this file until /etc/letsencrypt/live/" + n.Hostname + "/ exists.")
	case "manual":
		w.comment("TLS: certificate files provided by the operator.")
	case "off":
		w.comment("No TLS: plain HTTP, for use behind another TLS terminator.")
	}
	w.blank()

	// The map is http-level: its variable is named for Immich so that it
	// cannot clash with another vhost's $connection_upgrade.
	w.comment("\"upgrade\" for websocket requests (Immich's live updates), \"close\" otherwise.")
	w.open("map", "$http_upgrade", "$immich_connection_upgrade")
	w.d("default", "upgrade")
	w.d(`""`, "close")
	w.close()

	if n.TLS != "off" {
		w.blank()
		w.open("server")
		nginxListen(w, n, n.HTTPPort, false)
		w.d("server_name", nginxToken(n.Hostname))
		if n.TLS == "webroot" {
			w.blank()
			w.comment("certbot's HTTP-01 challenges.")
			w.open("location", "^~", "/.well-known/acme-challenge/")
			w.d("root", nginxToken(n.Webroot))
			w.d("default_type", "text/plain")
			w.close()
		}
		w.blank()
		if n.TLS == "acme" {
			w.comment("The ACME module answers /.well-known/acme-challenge/ before this location.")
		}
		w.comment("Everything else moves to HTTPS.")
		w.open("location", "/")
		redirect := "https://$server_name$request_uri"
		if n.HTTPSPort != 443 {
			redirect = "https://$server_name:" + strconv.Itoa(n.HTTPSPort) + "$request_uri"
		}
		w.d("return", "301", nginxTok(redirect)) // our syntax and a number only
		w.close()
		w.close()
	}

	w.blank()
	w.open("server")
	if n.TLS == "off" {
		nginxListen(w, n, n.HTTPPort, false)
	} else {
		nginxListen(w, n, n.HTTPSPort, true)
		if n.HTTP2 == "on" {
			w.d("http2", "on")
		}
	}
	w.d("server_name", nginxToken(n.Hostname))

	if n.TLS != "off" {
		w.blank()
		switch n.TLS {
		case "acme":
			w.d("acme_certificate", nginxToken(n.ACME.Issuer))
			w.d("ssl_certificate", "$acme_certificate")
			w.d("ssl_certificate_key", "$acme_certificate_key")
			w.comment("Do not parse the certificate on every handshake.")
			w.d("ssl_certificate_cache", "max=2")
		case "webroot":
			live := "/etc/letsencrypt/live/" + n.Hostname + "/"
			w.d("ssl_certificate", nginxToken(live+"fullchain.pem"))
			w.d("ssl_certificate_key", nginxToken(live+"privkey.pem"))
		case "manual":
			w.d("ssl_certificate", nginxToken(n.Certificate))
			w.d("ssl_certificate_key", nginxToken(n.CertificateKey))
		}
		w.blank()
		w.comment("TLS 1.2 and 1.3 only; Mozilla's intermediate settings.")
		w.d("ssl_protocols", "TLSv1.2", "TLSv1.3")
		w.d("ssl_ciphers", nginxCiphers)
		w.d("ssl_prefer_server_ciphers", "off")
		w.d("ssl_session_cache", "shared:immich_ssl:10m")
		w.d("ssl_session_timeout", "1d")
		w.d("ssl_session_tickets", "off")
		if n.HSTS.Enabled {
			hsts := "max-age=" + strconv.Itoa(n.HSTS.MaxAge)
			if n.HSTS.IncludeSubDomains {
				hsts += "; includeSubDomains"
			}
			w.d("add_header", "Strict-Transport-Security", nginxToken(hsts), "always")
		}
	}

	if len(n.RealIPFrom) > 0 {
		w.blank()
		w.comment("The client address from trusted proxies in front of nginx.")
		for _, a := range n.RealIPFrom {
			w.d("set_real_ip_from", nginxToken(a))
		}
		w.d("real_ip_header", "X-Forwarded-For")
		w.d("real_ip_recursive", "on")
	}

	w.blank()
	w.comment("Immich's recommended proxy settings: large uploads streamed to Immich, long timeouts.")
	w.d("client_max_body_size", nginxToken(n.MaxBodySize))
	w.d("client_body_buffer_size", "1024k")
	w.d("proxy_request_buffering", "off")
	w.d("proxy_http_version", "1.1")
	w.d("proxy_redirect", "off")
	w.d("proxy_read_timeout", "600s")
	w.d("proxy_send_timeout", "600s")
	w.d("send_timeout", "600s")

	w.blank()
	// Every proxy_set_header is in the location: a location that sets
	// one inherits none from the server level.
	w.comment("Everything, /.well-known/immich and the websocket included, goes to Immich on loopback.")
	w.open("location", "/")
	w.d("proxy_pass", nginxTok("http://127.0.0.1:"+strconv.Itoa(cfg.Immich.Port))) // a number only
	w.d("proxy_set_header", "Host", "$host")
	w.d("proxy_set_header", "X-Real-IP", "$remote_addr")
	w.d("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for")
	if n.TLS == "off" {
		// The TLS terminator in front says which scheme the client used.
		w.d("proxy_set_header", "X-Forwarded-Proto", "$http_x_forwarded_proto")
	} else {
		w.d("proxy_set_header", "X-Forwarded-Proto", "$scheme")
	}
	w.d("proxy_set_header", "Upgrade", "$http_upgrade")
	w.d("proxy_set_header", "Connection", "$immich_connection_upgrade")
	w.close()
	w.close()
	return w.bytes()
}

// nginxListen writes the listen directives of one port, IPv6 too when
// asked for.
func nginxListen(w *nginxWriter, n schema.Nginx, port int, tls bool) {
	args := []nginxTok{nginxTok(strconv.Itoa(port))} // a number only
	if tls {
		args = append(args, "ssl")
		if n.HTTP2 == "listen" {
			args = append(args, "http2")
		}
	}
	w.d("listen", args...)
	if n.IPv6 {
		args[0] = nginxTok("[::]:" + strconv.Itoa(port))
		w.d("listen", args...)
	}
}

// nginxACMEIssuer renders the http-level ACME setup: the resolver the
// module needs, its shared zone and the issuer.
func nginxACMEIssuer(n schema.Nginx) []byte {
	a := n.ACME
	w := &nginxWriter{}
	w.comment(Notice)
	w.comment("ACME issuer " + a.Issuer + " for nginx's native ACME module (ngx_http_acme_module).")
	w.comment("Any server block can use it with \"acme_certificate " + a.Issuer + ";\". Needs nginx >= 1.27.4 and")
	w.comment("\"load_module modules/ngx_http_acme_module.so;\" in nginx.conf. It accepts the CA's terms of service.")
	w.blank()
	if len(a.Resolver) > 0 {
		w.comment("The module looks up the ACME server with these DNS servers.")
		var args []nginxTok
		for _, ip := range a.Resolver {
			if strings.Contains(ip, ":") {
				ip = "[" + ip + "]" // nginx reads a bare IPv6 address as host:port
			}
			args = append(args, nginxToken(ip))
		}
		if !n.IPv6 {
			args = append(args, "ipv6=off")
		}
		w.d("resolver", args...)
	}
	w.d("acme_shared_zone", "zone=ngx_acme_shared:1M")
	w.blank()
	directory := letsEncryptDirectory
	switch {
	case a.Directory != "":
		directory = a.Directory
	case a.Staging:
		directory = letsEncryptStagingDirectory
	}
	w.open("acme_issuer", nginxToken(a.Issuer))
	w.d("uri", nginxToken(directory))
	w.d("contact", nginxToken("mailto:"+a.Email))
	w.d("state_path", nginxToken(a.StatePath))
	w.d("accept_terms_of_service")
	w.close()
	return w.bytes()
}

// nginxWriter builds an nginx file with four-space indentation. Directive
// names and arguments are nginxToks, so every value from the
// configuration has passed through nginxToken.
type nginxWriter struct {
	b     bytes.Buffer
	depth int
}

func (w *nginxWriter) indent() {
	for range w.depth {
		w.b.WriteString("    ")
	}
}

func (w *nginxWriter) words(name nginxTok, args []nginxTok) {
	w.indent()
	w.b.WriteString(string(name))
	for _, a := range args {
		w.b.WriteByte(' ')
		w.b.WriteString(string(a))
	}
}

// d writes a simple directive.
func (w *nginxWriter) d(name nginxTok, args ...nginxTok) {
	w.words(name, args)
	w.b.WriteString(";\n")
}

// open starts a block directive such as server or location.
func (w *nginxWriter) open(name nginxTok, args ...nginxTok) {
	w.words(name, args)
	w.b.WriteString(" {\n")
	w.depth++
}

func (w *nginxWriter) close() {
	w.depth--
	w.indent()
	w.b.WriteString("}\n")
}

func (w *nginxWriter) comment(text string) {
	w.indent()
	w.b.WriteString(nginxComment(text))
	w.b.WriteByte('\n')
}

func (w *nginxWriter) blank() { w.b.WriteByte('\n') }

func (w *nginxWriter) bytes() []byte {
	if w.depth != 0 {
		panic("nginxWriter: unclosed block")
	}
	return w.b.Bytes()
}
