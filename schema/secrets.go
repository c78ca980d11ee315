package schema

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"cuelang.org/go/cue"
)

// MinSecretLength is the shortest password accepted, counted in characters.
const MinSecretLength = 12

// secretPaths lists the config paths that hold secrets in this value.
func (l *loaded) secretPaths() []string { return secretPathsIn(l.value) }

// secretAt is a secret reference as written at a config path.
type secretAt struct {
	path string
	ref  secretRef
}

// resolveSecrets reads every secret reference and checks the resolved
// value, so that length rules apply to the real password whatever its
// source. Messages name the source, never the value.
func (l *loaded) resolveSecrets(opt Options) (map[string]Secret, Problems) {
	var refs []secretAt
	for _, path := range l.secretPaths() {
		v := l.value.LookupPath(configPath(path))
		if !v.Exists() {
			continue // a missing required field is reported by validation
		}
		if v.Validate(cue.Concrete(true)) != nil {
			// A secret of the wrong shape is reported by validation,
			// without its value: {env: VALUE} must not become "variable
			// VALUE is not set", nor {file: VALUE} "cannot read VALUE".
			continue
		}
		var r secretRef
		if str, err := v.String(); err == nil {
			r.Literal = &str
		} else if env, err := v.LookupPath(cue.ParsePath("env")).String(); err == nil {
			r.Env = env
		} else if file, err := v.LookupPath(cue.ParsePath("file")).String(); err == nil {
			r.File = file
		} else {
			continue // wrong shape: reported by validation
		}
		refs = append(refs, secretAt{path, r})
	}
	return l.resolveRefs(refs, opt)
}

// resolveConfigSecrets is resolveSecrets for a configuration that passed
// the schema: the references are read from the decoded Config (the
// settings' from the settings as written), with no lookup in CUE.
func (l *loaded) resolveConfigSecrets(c *Config, opt Options) (map[string]Secret, Problems) {
	var refs []secretAt
	for _, ns := range c.Secrets() {
		r := ns.Secret.ref
		if rest, ok := strings.CutPrefix(ns.Path, "immich.settings."); ok {
			var v any = c.Immich.Settings
			for _, elem := range strings.Split(rest, ".") {
				v = v.(map[string]any)[elem] // hasSetting found it
			}
			switch v := v.(type) {
			case string:
				r.Literal = &v
			case map[string]any:
				r.Env, _ = v["env"].(string)
				r.File, _ = v["file"].(string)
			}
		}
		if r.Literal == nil && r.Env == "" && r.File == "" {
			continue
		}
		refs = append(refs, secretAt{ns.Path, r})
	}
	return l.resolveRefs(refs, opt)
}

// resolveRefs reads secret references and checks the values.
func (l *loaded) resolveRefs(refs []secretAt, opt Options) (map[string]Secret, Problems) {
	out := map[string]Secret{}
	var probs Problems
	for _, sa := range refs {
		path := sa.path
		bad := func(reason, hint string) {
			probs = append(probs, ProblemAt(splitPath(path), KindSecret, reason, hint, l.locate(splitPath(path))...))
		}
		var s Secret
		switch r := sa.ref; {
		case r.Literal != nil:
			s = Secret{Value: *r.Literal, Source: "the configuration"}
		case r.Env != "":
			env := r.Env
			val, ok := opt.LookupEnv(env)
			if !ok && opt.AllowUnresolved {
				out[path] = Secret{Source: "environment variable " + env + " is not set", Unresolved: true}
				continue
			}
			if !ok {
				bad(fmt.Sprintf("environment variable %s is not set", env), "export "+env+" before rendering, or point the secret at a file with {file: \"/path\"}")
				continue
			}
			s = Secret{Value: val, Source: "environment variable " + env}
		default:
			file := r.File
			b, err := opt.ReadFile(file)
			if err != nil && opt.AllowUnresolved {
				out[path] = Secret{Source: fmt.Sprintf("file %s: %v", file, unwrapPathError(err)), Unresolved: true}
				continue
			}
			if err != nil {
				bad(fmt.Sprintf("cannot read secret file %s: %v", file, unwrapPathError(err)), "a readable regular file holding the secret")
				continue
			}
			// Editors and `echo` end files with a newline that is not part
			// of the secret; Immich strips it too when it reads _FILE.
			val := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			s = Secret{Value: val, Source: "file " + file}
		}
		if f, _ := secretField(splitPath(path)); f.Setting {
			// Issued by someone else: any non-empty text will do.
			if s.Value == "" || !utf8.ValidString(s.Value) {
				bad(fmt.Sprintf("the secret from %s is empty or not valid UTF-8", s.Source), "the secret as its issuer gave it")
			}
			out[path] = s
			continue
		}
		if reason := checkSecret(s.Value); reason != "" {
			bad(fmt.Sprintf("the secret from %s %s", s.Source, reason), fmt.Sprintf("a secret of at least %d characters, without leading or trailing white space or control characters", MinSecretLength))
		}
		out[path] = s
	}
	return out, probs
}

// checkSecret says what is wrong with a resolved secret, or "".
func checkSecret(v string) string {
	switch n := utf8.RuneCountInString(v); {
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case n < MinSecretLength:
		return fmt.Sprintf("is %d characters long; at least %d are required", n, MinSecretLength)
	case strings.TrimSpace(v) != v:
		// Immich trims the password it reads from a _FILE, so leading or
		// trailing white space would make it log in with another password.
		return "starts or ends with white space, which Immich strips when it reads the secret file"
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "contains a control character (such as a newline or tab)"
	}
	return ""
}

// unwrapPathError drops the repeated path from an *fs.PathError.
func unwrapPathError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}
