package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// serverCA writes the test server's certificate as the client's CA file.
func serverCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func standinMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/rehearsal/upload", upload)
	mux.HandleFunc("/api/rehearsal/upload-progress", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.FormatInt(uploaded.Load(), 10))
	})
	return mux
}

// TestUploadClient: straight to the server the upload streams; through a
// proxy that reads the whole body before passing it on, it must fail.
func TestUploadClient(t *testing.T) {
	direct := httptest.NewTLSServer(standinMux())
	defer direct.Close()
	if rc := uploadClient([]string{direct.URL, serverCA(t, direct), "16"}); rc != 0 {
		t.Fatalf("direct upload: exit %d", rc)
	}

	upstream := httptest.NewServer(standinMux())
	defer upstream.Close()
	buffering := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Method == "POST" {
			data, _ := io.ReadAll(r.Body) // what proxy_request_buffering on does
			body = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(r.Method, upstream.URL+r.URL.Path, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer buffering.Close()
	progressWait = time.Second
	defer func() { progressWait = 20 * time.Second }()
	uploaded.Store(0)
	if rc := uploadClient([]string{buffering.URL, serverCA(t, buffering), "16"}); rc == 0 {
		t.Fatal("the upload through a buffering proxy passed")
	}
}
