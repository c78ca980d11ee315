package main

import (
	"slices"
	"testing"
)

// commandNames, which help's completion and the messages use, lists the
// table's commands.
func TestCommandNames(t *testing.T) {
	var names []string
	for _, c := range commands() {
		if c.name != "" {
			names = append(names, c.name)
		}
	}
	if !slices.Equal(names, commandNames()) {
		t.Errorf("commandNames() = %v, the table has %v", commandNames(), names)
	}
}
