// Package valkeytest runs throwaway redis-server (or valkey-server)
// processes and speaks RESP2 to them. Tests use it to prove that rendered
// ACL files load and enforce what they promise on the real server, and the
// command-table generator uses it to ask a real server for its commands.
// It needs no client library: RESP2 is a few lines of code.
package valkeytest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a running server process listening on a Unix socket in its
// own temporary directory (no port to race for) or on a loopback port.
type Server struct {
	Network, Addr string // for net.Dial: "unix" and a socket path, or "tcp" and host:port
	Dir           string // the server's working directory (removed by Close)

	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error // the process's exit status, once exited is closed
}

// Options configure Start. Zero values give a Unix-socket server with no
// persistence.
type Options struct {
	// Binary is the server program, such as /usr/bin/redis-server.
	Binary string
	// ConfigFile is passed first, as the server's configuration file.
	ConfigFile string
	// TCPPort, if not 0, listens on 127.0.0.1:TCPPort instead of a socket.
	// The port must be free. Use FreePort to find one.
	TCPPort int
	// Args are more "--option value" arguments, after the defaults, so
	// that they win over them.
	Args []string
	// NoListenArgs leaves --port, --bind and --unixsocket out, for a test
	// that wants ConfigFile to say where the server listens. Addr must
	// then be given.
	NoListenArgs bool
	Network      string
	Addr         string
}

// Start starts a server and waits until it accepts connections. Close
// stops it. A server that exits during start-up is an error that carries
// its log, which says why (such as a bad ACL file).
func Start(o Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "vk")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, log: &lockedBuffer{}, exited: make(chan struct{})}
	var args []string
	if o.ConfigFile != "" {
		args = append(args, o.ConfigFile)
	}
	switch {
	case o.NoListenArgs:
		s.Network, s.Addr = o.Network, o.Addr
	case o.TCPPort != 0:
		s.Network, s.Addr = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.TCPPort))
		args = append(args, "--port", strconv.Itoa(o.TCPPort), "--bind", "127.0.0.1")
	default:
		s.Network, s.Addr = "unix", filepath.Join(dir, "s.sock")
		args = append(args, "--port", "0", "--unixsocket", s.Addr, "--unixsocketperm", "700")
	}
	args = append(args, "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
	args = append(args, o.Args...)
	s.cmd = exec.Command(o.Binary, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%s exited during start-up (%v):\n%s", o.Binary, s.err, s.log.String())
		default:
		}
		if c, err := net.DialTimeout(s.Network, s.Addr, time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("%s did not accept connections on %s within 15s:\n%s", o.Binary, s.Addr, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exited reports whether the server process has ended (a SHUTDOWN that
// should have been refused, a crash).
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Log returns what the server printed so far.
func (s *Server) Log() string { return s.log.String() }

// Close kills the server (only this process, by its pid) and removes its
// directory.
func (s *Server) Close() {
	if !s.Exited() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.Dir)
}

// Dial opens a connection to the server.
func (s *Server) Dial() (*Conn, error) { return Dial(s.Network, s.Addr) }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Conn is a RESP2 connection. It is not safe for concurrent use.
type Conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// Dial connects to a server.
func Dial(network, addr string) (*Conn, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Error is an error reply from the server, such as
// "NOPERM this user has no permissions to run the 'flushdb' command".
type Error string

func (e Error) Error() string { return string(e) }

// Code is the error's first word, such as NOPERM, NOAUTH or WRONGPASS.
func (e Error) Code() string {
	code, _, _ := strings.Cut(string(e), " ")
	return code
}

// Send writes one command without waiting for its reply; Flush and
// Receive complete a pipeline.
func (c *Conn) Send(args ...string) error {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	return nil
}

// Flush sends what Send buffered.
func (c *Conn) Flush() error { return c.w.Flush() }

// Receive reads one reply: a string (simple or bulk), an int64, nil, a
// []any, or an Error (returned as the reply, with a nil error, so that a
// refusal is a value to assert on). The error is for I/O and protocol
// failures only.
func (c *Conn) Receive() (any, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("resp: bad line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("resp: bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("resp: bad array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.Receive(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("resp: unknown reply type %q", line)
}

// Do sends one command and returns its reply (see Receive).
func (c *Conn) Do(args ...string) (any, error) {
	if err := c.Send(args...); err != nil {
		return nil, err
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	return c.Receive()
}

// IsClosed reports whether err means the server closed the connection.
func IsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

// lockedBuffer collects a process's output, read while it still runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ServerBinary returns the server program tests run: valkey-server (the
// server this deployment targets; Debian 12 has 8.0 in bookworm-backports)
// when it is installed, else redis-server, whose ACL file syntax is the
// same.
func ServerBinary() (string, error) {
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("neither valkey-server nor redis-server is installed (Debian 12: valkey-server from bookworm-backports)")
}
