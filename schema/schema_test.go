package schema

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

// TestSourceIsOneCUEFile: what `immich-render schema` prints compiles on its
// own and defines #Config, so users can vet against it with the cue tool.
func TestSourceIsOneCUEFile(t *testing.T) {
	src := Source()
	v := cuecontext.New().CompileBytes(src)
	if err := v.Err(); err != nil {
		t.Fatalf("printed schema does not compile: %v", err)
	}
	if !v.LookupPath(cue.ParsePath("#Config")).Exists() {
		t.Fatal("printed schema lacks #Config")
	}
	if strings.Count(string(src), "package config") != 1 {
		t.Error("package clause repeated")
	}
}
