package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// uploaded counts the bytes of the upload in progress as they arrive.
var uploaded atomic.Int64

// upload reads a request body to its end, counting it in uploaded.
func upload(w http.ResponseWriter, r *http.Request) {
	uploaded.Store(0)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Body.Read(buf)
		uploaded.Add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	fmt.Fprint(w, uploaded.Load())
}

// tlsClient trusts only the certificates in caFile (none: plain HTTP).
func tlsClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(caFile + ": no certificate")
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// uploadClient POSTs MB megabytes to URL's /api/rehearsal/upload, and
// stops after the first 8 MB until the server reports receiving bytes: a
// proxy that buffers the request body (to its end) never lets it go on.
func uploadClient(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: standin upload-client URL CAFILE MB")
		return 2
	}
	base, caFile := strings.TrimSuffix(args[0], "/"), args[1]
	mb, err := strconv.Atoi(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := tlsClient(caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pr, pw := io.Pipe()
	total := int64(mb) << 20
	first := int64(8 << 20)
	streamed := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte('a' + i%26)
		}
		var sent int64
		for sent < total {
			if sent == first {
				if err := waitProgress(c, base); err != nil {
					streamed <- err
					pw.CloseWithError(err)
					return
				}
				streamed <- nil
			}
			n, err := pw.Write(chunk)
			if err != nil {
				return
			}
			sent += int64(n)
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", base+"/api/rehearsal/upload", pr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	req.ContentLength = total
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		select {
		case serr := <-streamed:
			if serr != nil {
				err = serr
			}
		default:
		}
		fmt.Fprintln(os.Stderr, "upload:", err)
		return 1
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != strconv.FormatInt(total, 10) {
		fmt.Fprintf(os.Stderr, "upload: %s %q, want %d bytes received\n", resp.Status, body, total)
		return 1
	}
	fmt.Printf("uploaded %d MB in %.1fs; the server had bytes before the client sent more than 8 MB\n", mb, time.Since(start).Seconds())
	return 0
}

// progressWait is how long the upload client waits for the server to
// report the first bytes.
var progressWait = 20 * time.Second

// waitProgress polls the server until it reports bytes of the upload.
func waitProgress(c *http.Client, base string) error {
	for deadline := time.Now().Add(progressWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(base + "/api/rehearsal/upload-progress")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if n, _ := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64); n > 0 {
			return nil
		}
	}
	return fmt.Errorf("the server received nothing of the first 8 MB within %s: the proxy buffers request bodies", progressWait)
}

// websocketClient upgrades URL's /api/socket.io/ over TLS and prints the
// server's first frame.
func websocketClient(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: standin websocket-client URL CAFILE")
		return 2
	}
	u, err := url.Parse(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := tlsClient(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conf := c.Transport.(*http.Transport).TLSClientConfig
	conf.ServerName = u.Hostname()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", host, conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		fmt.Fprintf(os.Stderr, "upgrade answered %s %v\n", resp.Status, resp.Header)
		return 1
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	payload := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("websocket frame: %s\n", payload)
	return 0
}
