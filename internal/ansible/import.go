// Package ansible imports the inventory of the Ansible role that
// immich-render replaces: it reads an INI or YAML inventory with its
// group_vars and host_vars, applies Ansible's variable precedence,
// decrypts Ansible Vault values, resolves plain Jinja references and
// writes an equivalent immich-render configuration, with the secrets in a
// separate environment file.
package ansible

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/immich-render/immich-render/internal/gitcheck"
	"github.com/immich-render/immich-render/schema"
)

// Options are the command line of 'immich-render import ansible'.
type Options struct {
	Inventory string
	Hosts     []string // empty: every host of the inventory
	Vault     *Vault
}

// Result is what an import produces.
type Result struct {
	CUE      []byte   // immich.cue
	Env      []byte   // immich.secrets.env
	Warnings []string // for stderr
	// Resolved holds, per inventory host, the value of each role variable
	// the import used (after precedence, vault and references), as JSON
	// would carry it. Tests compare it with Ansible's.
	Resolved map[string]map[string]any
	Hosts    map[string]string // inventory host -> immich-render host name
}

// File names the import writes.
const (
	CUEFile = "immich.cue"
	EnvFile = "immich.secrets.env"
)

// Import reads the inventory and builds the configuration.
func Import(opt Options) (*Result, error) {
	inv, err := Load(opt.Inventory, opt.Vault)
	if err != nil {
		return nil, err
	}
	hosts := opt.Hosts
	if len(hosts) == 0 {
		hosts = inv.Hosts()
		if len(hosts) == 0 {
			return nil, schema.Problems{problem(Pos{File: opt.Inventory}, "", "the inventory has no hosts")}
		}
	}
	var ps schema.Problems
	for _, h := range hosts {
		if !inv.Has(h) {
			ps = append(ps, problem(Pos{File: opt.Inventory}, "", fmt.Sprintf("host %s is not in the inventory (its hosts: %s)", h, strings.Join(inv.Hosts(), ", "))))
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	res := &Result{Resolved: map[string]map[string]any{}, Hosts: map[string]string{}}
	var imports []*hostImport
	names := hostNames(hosts)
	for _, h := range hosts {
		vars, err := inv.Vars(h)
		if err != nil {
			var vps schema.Problems
			if errors.As(err, &vps) {
				ps = append(ps, vps...)
				continue
			}
			return nil, err
		}
		hi := importHost(h, inv.hosts[h].groups, vars, opt.Vault)
		hi.name = names[h]
		ps = append(ps, hi.problems...)
		imports = append(imports, hi)
		res.Resolved[h] = hi.resolved
		res.Hosts[h] = hi.name
	}
	if len(ps) > 0 {
		return nil, dedupe(ps)
	}
	for _, h := range hosts {
		if names[h] != h {
			res.Warnings = append(res.Warnings, fmt.Sprintf("inventory host %s is named %s in the configuration: immich-render host names are 1-63 lowercase letters, digits and '-'", h, names[h]))
		}
	}
	// Warnings once each, in order, prefixed with the host when several.
	seen := map[string]bool{}
	for _, hi := range imports {
		for _, w := range hi.warnings {
			if !seen[w] {
				seen[w] = true
				res.Warnings = append(res.Warnings, w)
			}
		}
	}

	header := []string{"Imported from the Ansible inventory " + opt.Inventory + " by 'immich-render import ansible'.",
		"Secrets are {env: NAME} references; their values are in " + EnvFile + ", which stays out of git:",
		"load it with 'set -a; . ./" + EnvFile + "; set +a' before rendering.",
		"",
		"The containers run as the role's compose stack. On Podman 5.0 or later,",
		"immich: runtime: \"quadlet\" runs them as systemd units instead (Podman Quadlet):",
		"started in order of health, restarted by systemd, logs in the journal."}
	var todo []string
	for _, hi := range imports {
		for _, t := range hi.todo {
			if len(imports) > 1 {
				t = hi.name + ": " + t
			}
			if !slices.Contains(todo, t) {
				todo = append(todo, t)
			}
		}
	}
	if len(todo) > 0 {
		header = append(header, "", "Not imported, fill in by hand:")
		for _, t := range todo {
			header = append(header, "  "+t)
		}
	}

	var secrets map[string]string
	if len(imports) == 1 {
		hi := imports[0]
		res.CUE, err = siteCUE(header, hi.fields)
		secrets = hi.secrets
	} else {
		secrets = fleetSecrets(imports)
		defaults := sharedFields(imports)
		res.CUE, err = fleetCUE(header, defaults, imports)
	}
	if err != nil {
		return nil, err
	}
	res.Env = envFile(secrets)
	return res, nil
}

func dedupe(ps schema.Problems) schema.Problems {
	var out schema.Problems
	seen := map[string]bool{}
	for _, p := range ps {
		if s := p.String(); !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	return out
}

var badHostChars = lazyRegexp(`[^a-z0-9-]+`)

// hostNames maps inventory host names to valid immich-render host names:
// lowercase, every run of other characters a '-', trimmed to 63, made
// unique with a number. The same inventory always gives the same names.
func hostNames(hosts []string) map[string]string {
	out := map[string]string{}
	used := map[string]bool{}
	for _, h := range hosts {
		n := badHostChars().ReplaceAllString(strings.ToLower(h), "-")
		n = strings.Trim(n, "-")
		if len(n) > 63 {
			n = strings.Trim(n[:63], "-")
		}
		if n == "" {
			n = "host"
		}
		base := n
		for i := 2; used[n]; i++ {
			suffix := fmt.Sprintf("-%d", i)
			b := base
			if len(b)+len(suffix) > 63 {
				b = strings.Trim(b[:63-len(suffix)], "-")
			}
			n = b + suffix
		}
		used[n] = true
		out[h] = n
	}
	return out
}

// fleetSecrets names each secret once for the fleet: a secret every host
// that has it shares keeps its name, one that differs gets the host's
// name as a suffix (IMMICH_POSTGRES_PASSWORD_NAS1).
func fleetSecrets(hosts []*hostImport) map[string]string {
	out := map[string]string{}
	values := map[string]map[string]bool{}
	for _, h := range hosts {
		for k, v := range h.secrets {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
		}
	}
	for _, h := range hosts {
		rename := map[string]string{}
		for k, v := range h.secrets {
			name := k
			if len(values[k]) > 1 {
				name = k + "_" + strings.ToUpper(strings.ReplaceAll(h.name, "-", "_"))
				rename[k] = name
			}
			out[name] = v
		}
		for i, f := range h.fields {
			h.fields[i].value = renameEnv(f.value, rename)
		}
	}
	return out
}

func renameEnv(v any, rename map[string]string) any {
	switch x := v.(type) {
	case envRef:
		if n, ok := rename[x.Name]; ok {
			return envRef{n}
		}
	case []object:
		out := make([]object, len(x))
		for i, o := range x {
			out[i] = slices.Clone(o)
			for j := range out[i] {
				out[i][j].value = renameEnv(out[i][j].value, rename)
			}
		}
		return out
	}
	return v
}

// envFile writes NAME='value' lines, quoted for sh, sorted by name.
func envFile(secrets map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# Secrets imported from the Ansible inventory. Keep this file out of git.\n")
	b.WriteString("# Load it before rendering: set -a; . ./" + EnvFile + "; set +a\n")
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		fmt.Fprintf(&b, "%s=%s\n", k, shQuote(secrets[k]))
	}
	return b.Bytes()
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// The first line of every file the import writes records the SHA-256 of
// the rest, so that a later import can tell an untouched file from one
// the user edited.
const stampPrefix = "immich-render import ansible: sha256:"

func stamp(comment string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return append([]byte(comment+" "+stampPrefix+hex.EncodeToString(sum[:])+"\n"), body...)
}

// untouched reports whether data is a file the import wrote and nobody
// changed since.
func untouched(data []byte) bool {
	first, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return false
	}
	i := bytes.Index(first, []byte(stampPrefix))
	if i < 0 {
		return false
	}
	sum := sha256.Sum256(rest)
	return string(first[i+len(stampPrefix):]) == hex.EncodeToString(sum[:])
}

// SecretsInGit is the warning for an immich.secrets.env that git would
// commit, or "": the file holds the plaintext secrets.
func SecretsInGit(dir string) string {
	p := filepath.Join(dir, EnvFile)
	wt := gitcheck.Exposed(p)
	if wt == "" {
		return ""
	}
	return fmt.Sprintf("%s holds plaintext secrets and is inside the git work tree %s, which does not ignore it: `git add -A` would commit it. "+
		"Move it out of the repository (and pass the variables from there), or add %s to .gitignore", p, wt, EnvFile)
}

// Write writes immich.cue (0644) and immich.secrets.env (0600) into dir.
// A file there that the import did not write, or that was edited since,
// is refused unless force. Either both files are checked first or
// nothing is written.
func Write(dir string, res *Result, force bool) ([]string, error) {
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CUEFile, stamp("//", res.CUE), 0o644},
		{EnvFile, stamp("#", res.Env), 0o600},
	}
	if !force {
		var edited []string
		for _, f := range files {
			p := filepath.Join(dir, f.name)
			data, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if !untouched(data) {
				edited = append(edited, p)
			}
		}
		if len(edited) > 0 {
			return nil, fmt.Errorf("%s changed since the last import (or was not written by it); nothing was written: use --force to overwrite", strings.Join(edited, " and "))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		tmp, err := os.CreateTemp(dir, "."+f.name+".*")
		if err != nil {
			return written, err
		}
		_, err = tmp.Write(f.data)
		if err == nil {
			err = tmp.Chmod(f.mode)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), p)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// ResolveAll resolves every variable of each host (all, or opt.Hosts)
// as the import resolves role variables: precedence, vault, plain
// references. A variable whose value is left to the user, or refers to
// something undefined, is left out. Tests compare the result with
// Ansible's own.
func ResolveAll(opt Options) (map[string]map[string]any, error) {
	inv, err := Load(opt.Inventory, opt.Vault)
	if err != nil {
		return nil, err
	}
	hosts := opt.Hosts
	if len(hosts) == 0 {
		hosts = inv.Hosts()
	}
	out := map[string]map[string]any{}
	for _, h := range hosts {
		vars, err := inv.Vars(h)
		if err != nil {
			return nil, err
		}
		r := newResolver(h, inv.hosts[h].groups, vars, opt.Vault)
		out[h] = map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(vars)) {
			v, err := r.Lookup(name)
			if err != nil || v == nil {
				continue
			}
			out[h][name] = v.Interface()
		}
	}
	return out, nil
}

// lazyRegexp compiles pattern on first use: only `immich-render import`
// reads Ansible, and compiling every pattern at start-up cost every other
// command 0.1 ms.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}
