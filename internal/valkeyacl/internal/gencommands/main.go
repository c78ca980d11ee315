// Command gencommands writes valkeyacl's command table (commands.json)
// from a real server: every command and subcommand with its arity, flags
// and ACL categories from COMMAND INFO, cross-checked against ACL CAT
// <category>, so that the evaluator applies rules exactly as that server
// does.
//
// It starts a throwaway server from -server (redis-server by default) or
// asks a running one at -addr. Regenerate with, in valkeyacl/:
//
//	go generate                                     # valkey-server 8 (what the table holds)
//	go run ./internal/gencommands -server redis-server -o commands.json
//	go run ./internal/gencommands -addr 127.0.0.1:6379 -user default -password ... -o commands.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/immich-render/immich-render/internal/valkeytest"
)

// command is one entry of commands.json; valkeyacl reads the same shape.
type command struct {
	Name       string   `json:"name"`
	Arity      int      `json:"arity"`
	Flags      []string `json:"flags"`
	Categories []string `json:"categories"`
}

func main() {
	server := flag.String("server", "redis-server", "server program to start (ignored with -addr)")
	addr := flag.String("addr", "", "host:port of a running server to ask instead")
	user := flag.String("user", "", "user to AUTH as with -addr")
	password := flag.String("password", "", "password to AUTH with -addr")
	out := flag.String("o", "commands.json", "output file")
	flag.Parse()
	if err := run(*server, *addr, *user, *password, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gencommands:", err)
		os.Exit(1)
	}
}

func run(server, addr, user, password, out string) error {
	var c *valkeytest.Conn
	if addr != "" {
		var err error
		if c, err = valkeytest.Dial("tcp", addr); err != nil {
			return err
		}
		if user != "" {
			if r, err := c.Do("AUTH", user, password); err != nil || r != "OK" {
				return fmt.Errorf("AUTH: %v %v", r, err)
			}
		}
	} else {
		s, err := valkeytest.Start(valkeytest.Options{Binary: server})
		if err != nil {
			return err
		}
		defer s.Close()
		if c, err = s.Dial(); err != nil {
			return err
		}
	}
	defer c.Close()

	version, err := serverVersion(c)
	if err != nil {
		return err
	}
	cats, err := strList(c.Do("ACL", "CAT"))
	if err != nil {
		return fmt.Errorf("ACL CAT: %w", err)
	}
	info, err := c.Do("COMMAND", "INFO")
	if err != nil {
		return err
	}
	top, ok := info.([]any)
	if !ok {
		return fmt.Errorf("COMMAND INFO: unexpected reply %v", info)
	}
	var cmds []command
	for _, e := range top {
		if err := addCommand(&cmds, e); err != nil {
			return err
		}
	}
	slices.SortFunc(cmds, func(a, b command) int { return strings.Compare(a.Name, b.Name) })

	// ACL CAT <category> must list exactly the commands whose COMMAND INFO
	// carries it: the table is only right if both views agree.
	for _, cat := range cats {
		listed, err := strList(c.Do("ACL", "CAT", cat))
		if err != nil {
			return fmt.Errorf("ACL CAT %s: %w", cat, err)
		}
		slices.Sort(listed)
		var want []string
		for _, cmd := range cmds {
			if slices.Contains(cmd.Categories, cat) {
				want = append(want, cmd.Name)
			}
		}
		if !slices.Equal(listed, want) {
			return fmt.Errorf("ACL CAT %s lists %v, but COMMAND INFO gives %v", cat, listed, want)
		}
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n\"source\": %q,\n\"categories\": ", version+" (COMMAND INFO, ACL CAT); regenerate with go generate in valkeyacl/")
	j, _ := json.Marshal(cats)
	b.Write(j)
	b.WriteString(",\n\"commands\": [\n")
	for i, cmd := range cmds {
		j, err := json.Marshal(cmd)
		if err != nil {
			return err
		}
		b.Write(j)
		if i < len(cmds)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n}\n")
	return os.WriteFile(out, b.Bytes(), 0o644)
}

// addCommand appends a COMMAND INFO entry and its subcommands.
func addCommand(cmds *[]command, e any) error {
	a, ok := e.([]any)
	if !ok || len(a) < 7 {
		return fmt.Errorf("COMMAND INFO: unexpected entry %v", e)
	}
	name, _ := a[0].(string)
	arity, _ := a[1].(int64)
	flags, err := strList(a[2], nil)
	if err != nil {
		return fmt.Errorf("%s flags: %w", name, err)
	}
	cats, err := strList(a[6], nil)
	if err != nil {
		return fmt.Errorf("%s categories: %w", name, err)
	}
	for i := range cats {
		cats[i] = strings.TrimPrefix(cats[i], "@")
	}
	*cmds = append(*cmds, command{Name: strings.ToLower(name), Arity: int(arity), Flags: nonNil(flags), Categories: nonNil(cats)})
	if len(a) >= 10 {
		subs, _ := a[9].([]any)
		for _, s := range subs {
			if err := addCommand(cmds, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func serverVersion(c *valkeytest.Conn) (string, error) {
	r, err := c.Do("INFO", "server")
	if err != nil {
		return "", err
	}
	s, _ := r.(string)
	name, version := "redis", ""
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, "server_name:"); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(line, "valkey_version:"); ok {
			version = v
		}
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok && version == "" {
			version = v
		}
	}
	if version == "" {
		return "", fmt.Errorf("INFO server has no version: %q", s)
	}
	return name + " " + version, nil
}

func strList(r any, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	if e, ok := r.(valkeytest.Error); ok {
		return nil, e
	}
	a, ok := r.([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %v", r)
	}
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("not a string: %v", x)
		}
		out = append(out, s)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
