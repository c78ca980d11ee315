package valkeyacl

// Match reports whether a key or channel name matches a glob pattern the
// way the server's stringmatchlen does: * any run, ? one byte, [abc],
// [^abc], [a-z], and \ to quote the next byte. It works on bytes, as the
// server does.
func Match(pattern, s string) bool {
	skip := false
	return match(pattern, s, &skip)
}

func match(p, s string, skipLonger *bool) bool {
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if match(p[1:], s, skipLonger) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			matched := false
			for {
				if len(p) >= 2 && p[0] == '\\' {
					p = p[1:]
					if p[0] == s[0] {
						matched = true
					}
				} else if len(p) == 0 {
					// An unterminated class: the server steps back so
					// that the loop below consumes nothing more.
					p = "]"
					break
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					// The server compares C chars, signed on its platforms.
					lo, hi, c := int(int8(p[0])), int(int8(p[2])), int(int8(s[0]))
					if lo > hi {
						lo, hi = hi, lo
					}
					p = p[2:]
					if c >= lo && c <= hi {
						matched = true
					}
				} else if p[0] == s[0] {
					matched = true
				}
				p = p[1:]
			}
			if not {
				matched = !matched
			}
			if !matched {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// probes are names of every shape: letters, digits, punctuation, other
// services' prefixes, non-ASCII and glob characters themselves.
var probes = []string{
	"a", "Z", "0", "_", ":", "-", ".", "/", "*", "?", "[", "]", "\\", "^", "~", "&", "%",
	"x y", "é", "\xff", "\x00",
	"immich_bull:thumbnail:wait", "paperless:session:1", "nextcloud_cache", "bull:queue:id",
	"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "A1b2C3",
}

// Universal reports whether a pattern matches every non-empty name, such
// as *, **, ?* or *?: a key pattern like that is the same as ~*. It tests
// the pattern against names of every shape.
func Universal(pattern string) bool {
	for _, s := range probes {
		if !Match(pattern, s) {
			return false
		}
	}
	return true
}
