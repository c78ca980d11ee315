package schema

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
)

// TestCUEKinds makes every error cueKind recognises with the CUE version
// in go.mod. If an upgrade changes one of CUE's formats, this fails
// instead of messages silently losing their tidying.
func TestCUEKinds(t *testing.T) {
	ctx := cuecontext.New()
	for _, tc := range []struct {
		src  string
		want Kind
	}{
		{`#A: {a: int}, x: #A & {b: 1}`, KindUnknownField},
		{`x!: int`, KindMissing},
		{`a: 1, a: 2`, KindConflict},
		{`a: [1], a: [1, 2]`, KindListLength},
		{`a: int`, KindIncomplete},
		{`a: *"x" | "y", a: "z"`, KindDisjunction},
		{`a: =~"^x" & "y"`, KindConstraint},
		{`import "net"
a: net.IPCIDR & "10.0.0.0/33"`, KindConstraint},
	} {
		v := ctx.CompileString(tc.src)
		err := v.Validate(cue.Concrete(true), cue.All())
		if err == nil {
			t.Errorf("%s: no error", tc.src)
			continue
		}
		var kinds []Kind
		for _, e := range cueerrors.Errors(err) {
			kinds = append(kinds, cueKind(e))
		}
		found := false
		for _, k := range kinds {
			found = found || k == tc.want
		}
		if !found {
			t.Errorf("%s: kinds %v, want %v among them (%v)", tc.src, kinds, tc.want, err)
		}
	}
	// A failed pattern says the form is wrong, not the expression.
	err := ctx.CompileString(`a: =~"^x" & "y"`).Validate()
	if msg := cueMessage(cueerrors.Errors(err)[0], false); msg != `"y" does not have the required form` {
		t.Errorf("pattern message: %q", msg)
	}
}

func TestShorten(t *testing.T) {
	long := strings.Repeat("ü", 100)
	got := shorten(long)
	if len(got) > maxQuoted+30 || !strings.HasSuffix(got, "… (200 bytes in all)") || !strings.HasPrefix(got, "üü") {
		t.Errorf("shorten: %q", got)
	}
	if shorten("short") != "short" {
		t.Error("a short value was cut")
	}
}

// Every Kind has a name for machine-readable output, and no two share one.
func TestKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := KindInvalid; k <= KindInternal; k++ {
		n := k.String()
		if n == "" || seen[n] || strings.HasPrefix(n, "kind") {
			t.Errorf("Kind %d: name %q missing or repeated", k, n)
		}
		seen[n] = true
	}
}
