package schema

// secretHint is the hint of the secret that path is inside of (its env or
// file member, or deeper): what a secret may be. A wrong-shaped secret,
// such as {env: 12} or {file: true}, is reported at the member, which the
// schema's disjunction of shapes gives no hint of its own.
func (s *Schema) secretHint(l *loaded, path []string) string {
	for n := len(path) - 1; n > 0; n-- {
		if isSecretPath(path[:n]) {
			return s.hintIn(l, path[:n])
		}
	}
	return ""
}
