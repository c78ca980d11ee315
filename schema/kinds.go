package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"

	cueerrors "cuelang.org/go/cue/errors"
)

// Kind says what sort of problem a Problem is. Deduplicating, merging and
// ordering problems decide by Kind, never by the wording of a message.
type Kind int

const (
	KindInvalid      Kind = iota // a value the schema or a rule refuses
	KindConstraint               // a value a built-in constraint (bound, pattern, validator) refuses
	KindUnknownField             // a field the schema does not have
	KindMissing                  // a required field without a value
	KindConflict                 // two inputs give one field different values
	KindListLength               // two inputs give one list different lengths
	KindIncomplete               // no concrete value: a default that depends on an invalid field
	KindDisjunction              // no alternative of a disjunction matched (CUE's summary)
	KindRefused                  // a value no alternative of a field accepts, said once for the field
	KindBottom                   // an error that only repeats another one's (CUE's _|_)
	KindSyntax                   // an input that cannot be read at all
	KindSecret                   // a secret that cannot be resolved, or is too weak
	KindInternal                 // an immich-render bug
)

// cueKind classifies an error of CUE's evaluator. cue/errors gives an
// error's path, positions, format and arguments as values, but no code
// for what went wrong, so this one function reads the format string (a
// constant in CUE's source, not the formatted text). TestCUEKinds makes
// each of these errors with the CUE version in go.mod and fails when one
// is no longer recognised, so an upgrade cannot silently change messages.
func cueKind(e cueerrors.Error) Kind {
	format, args := e.Msg()
	switch {
	case format == "field not allowed":
		return KindUnknownField
	case strings.HasPrefix(format, "field is required but not present"):
		return KindMissing
	case strings.HasPrefix(format, "conflicting values %s and %s"):
		return KindConflict
	case strings.HasPrefix(format, "incompatible list lengths"):
		return KindListLength
	case strings.HasPrefix(format, "incomplete value"), strings.HasPrefix(format, "non-concrete value"):
		return KindIncomplete
	case strings.Contains(format, "errors in empty disjunction"):
		return KindDisjunction
	case strings.HasPrefix(format, "invalid value %") && strings.Contains(format, " ("):
		return KindConstraint
	}
	if strings.Contains(fmt.Sprintf(format, args...), "(type _|_)") {
		return KindBottom
	}
	return KindInvalid
}

// redacted stands for a secret's value in a message.
const redacted = "<redacted>"

// kindNames are CUE's names of types, which a message about a secret may
// print: they are not values.
var kindNames = map[string]bool{
	"_|_": true, "null": true, "bool": true, "int": true, "float": true, "number": true, "string": true,
	"bytes": true, "list": true, "struct": true, "_": true, "top": true,
}

// maxQuoted is the longest value a message quotes whole.
const maxQuoted = 80

// shorten cuts a value quoted in a message: a Jsonnet importstr or a
// pasted certificate can be megabytes, and a message is one line.
func shorten(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted - 20
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", s[:cut], len(s))
}

// cueMessage formats a CUE error's message with every argument shortened.
// A failed regular expression shows the expression itself; the hint says
// in words what is wanted, so the message only says the form is wrong.
//
// In a problem about a secret (secret), every value is a secret's value,
// or may be: it shows as <redacted>.
func cueMessage(e cueerrors.Error, secret bool) string {
	format, args := e.Msg()
	if format == "invalid value %v (out of bound %s)" && len(args) == 2 {
		if b := fmt.Sprint(args[1]); strings.HasPrefix(b, "=~") || strings.HasPrefix(b, "!~") {
			format, args = "%v does not have the required form", args[:1]
		}
	}
	short := make([]any, len(args))
	for i, a := range args {
		short[i] = a
		// Plain strings are messages (the schema's own error() texts);
		// anything else is a value CUE quotes.
		if _, isText := a.(string); !isText {
			s := fmt.Sprint(a)
			switch {
			case secret && !kindNames[s]:
				// A number, a struct or a list is a secret's value too
				// (YAML reads 8734561290348756 as an int); only the names
				// of types ("mismatched types struct and int") stay.
				short[i] = redacted
			case len(s) > maxQuoted:
				short[i] = shorten(s)
			}
		}
	}
	msg := fmt.Sprintf(format, short...)
	if strings.TrimSpace(msg) == "" {
		msg = e.Error() // some decoders put everything in Error()
	}
	return msg
}

// kindLabels are the Kinds as `vet --format json` prints them; a test keeps
// one name for every Kind.
var kindLabels = [...]string{
	KindInvalid:      "invalid",
	KindConstraint:   "constraint",
	KindUnknownField: "unknown-field",
	KindMissing:      "missing",
	KindConflict:     "conflict",
	KindListLength:   "list-length",
	KindIncomplete:   "incomplete",
	KindDisjunction:  "disjunction",
	KindRefused:      "refused",
	KindBottom:       "bottom",
	KindSyntax:       "syntax",
	KindSecret:       "secret",
	KindInternal:     "internal",
}

// String is the Kind's name in machine-readable output, such as "missing".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindLabels) && kindLabels[k] != "" {
		return kindLabels[k]
	}
	return fmt.Sprintf("kind%d", int(k))
}
