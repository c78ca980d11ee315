package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

// aclToken returns s as one rule of a users.acl line. The format has no
// quoting or escaping: the server splits a line on spaces and trims tabs
// and line breaks, so a rule holding any of them cannot be written. The
// schema refuses such patterns and rules; one reaching here is a renderer
// bug.
func aclToken(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		panic(fmt.Sprintf("aclToken: %q cannot be one ACL rule", s))
	}
	return s
}

// aclPassword returns the rule that gives a user a password by its
// SHA-256, "#<64 lowercase hex>": any character may be in the password,
// and the plaintext never reaches the file. An empty password would be a
// hash anyone can log in with; the schema refuses it, so it is a bug here.
func aclPassword(password string) string {
	if password == "" {
		panic("aclPassword: empty password")
	}
	sum := sha256.Sum256([]byte(password))
	return "#" + hex.EncodeToString(sum[:])
}
