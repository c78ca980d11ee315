package render

import (
	"fmt"
	"strconv"
	"strings"
)

// Quoting for PostgreSQL's own file formats. Every name and string that
// reaches init.sql, pg_hba.conf or postgresql.conf goes through exactly one
// of these, so that quoting is decided in one place per syntax. The schema
// already restricts names to [a-z0-9_], but the helpers do not rely on it:
// init.sql is tested with hostile names that bypass the schema.

// sqlIdent quotes a PostgreSQL identifier: always double-quoted, so that
// case, keywords and any character survive, with '"' doubled. A NUL or a
// name over PostgreSQL's 63-byte limit (which it would silently truncate)
// is a renderer bug, never user input.
func sqlIdent(s string) string {
	if s == "" || len(s) > 63 || strings.ContainsRune(s, 0) {
		panic(fmt.Sprintf("sqlIdent: invalid identifier %q", s))
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// sqlLiteral quotes a string constant. A string without a backslash is
// '...' with "'" doubled. With a backslash it uses the escape-string form
// E'...' (backslashes doubled too), which means the same text whatever the
// server's standard_conforming_strings says; plain '...' would not. psql
// reads both forms as one token, so nothing inside is taken for a psql
// variable (:name) or meta-command (\cmd).
func sqlLiteral(s string) string {
	if strings.ContainsRune(s, 0) {
		panic(fmt.Sprintf("sqlLiteral: NUL in %q", s))
	}
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", "''") + "'"
	}
	return q
}

// sqlDollar wraps a DO block body in dollar quotes: $tag$, or $tag1$,
// $tag2$ ... when the body holds the tag, so that no quoted value inside
// can end the body early.
func sqlDollar(tag, body string) string {
	d := "$" + tag + "$"
	for i := 1; strings.Index(body+d, d) != len(body); i++ {
		d = "$" + tag + strconv.Itoa(i) + "$"
	}
	return d + body + d
}

// psqlConnect is a psql \connect line to database db that keeps the host,
// port and user of the current connection. The database goes in a
// connection string (dbname='...', with \ and ' backslash-escaped), since
// a bare argument containing '=' would itself be read as one; the string
// is passed as a double-quoted psql argument ('"' doubled), inside which
// psql expands neither variables nor backquotes.
func psqlConnect(db string) string {
	if db == "" || strings.ContainsAny(db, "\x00\n\r") {
		panic(fmt.Sprintf("psqlConnect: invalid database name %q", db))
	}
	conninfo := "dbname='" + conninfoEscapes.Replace(db) + "'"
	return `\connect -reuse-previous=on "` + strings.ReplaceAll(conninfo, `"`, `""`) + `"`
}

// hbaName quotes a database or role name in pg_hba.conf. Quoted, a name
// never means a keyword (all, sameuser, replication) or a +group/@file;
// pg_hba.conf has no escape for '"' inside quotes, so such a name is a
// renderer bug (the schema allows only [a-z0-9_]).
func hbaName(s string) string {
	if s == "" || strings.ContainsAny(s, "\"\x00\n\r") {
		panic(fmt.Sprintf("hbaName: cannot quote %q in pg_hba.conf", s))
	}
	return `"` + s + `"`
}

// confString quotes a postgresql.conf string value: single quotes, with
// "'" doubled and '\' doubled, since the file's parser reads backslash
// escapes inside strings.
func confString(s string) string {
	if strings.ContainsAny(s, "\x00\n\r") {
		panic(fmt.Sprintf("confString: control character in %q", s))
	}
	return "'" + confStringEscapes.Replace(s) + "'"
}

// The escapes of a libpq connection-string value and of a postgresql.conf
// string, built once.
var (
	conninfoEscapes   = strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	confStringEscapes = strings.NewReplacer(`\`, `\\`, `'`, `''`)
)
