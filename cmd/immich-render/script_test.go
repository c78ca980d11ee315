package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"immich-render": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each is a
// txtar archive with the commands, their files and their exact output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("IMMICH_POSTGRES_PASSWORD", "script-postgres-password")
			e.Setenv("IMMICH_VALKEY_PASSWORD", "script-valkey-password")
			e.Setenv("VALKEY_ADMIN_PASSWORD", "script-valkey-admin-password")
			return nil
		},
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
	})
}
