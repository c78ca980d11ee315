package schema

import (
	"slices"
	"testing"
)

// TestServiceUserMemo: a user's findings through the memo are what the
// check finds on its own, the first time and from the memo, and users
// that differ in any field are not mixed up.
func TestServiceUserMemo(t *testing.T) {
	direct := func(u serviceUser) []finding {
		var fs []finding
		checkServiceUser(u, func(path, reason, hint string) { fs = append(fs, finding{path, reason, hint}) })
		return fs
	}
	users := []serviceUser{
		{path: "valkey.users.0", keyPatterns: []string{"paperless*"}, commands: "+@all"},
		{path: "valkey.users.0", keyPatterns: []string{"paperless*"}, commands: "+@read"},
		{path: "valkey.users.1", keyPatterns: []string{"paperless*"}, commands: "+@all"},
		{path: "valkey.users.0", keyPatterns: []string{"*"}, commands: "+@read"},
		{path: "valkey.users.0", keyPatterns: []string{"paperless*"}, channelPatterns: []string{"*"}, commands: "+@read"},
		{path: "immich.valkey", keyPatterns: []string{"x*"}, immich: true},
		{path: "immich.valkey", keyPatterns: []string{"x*"}},
	}
	found := 0
	for round := range 2 {
		for i, u := range users {
			want := direct(u)
			if got := checkServiceUserOnce(u); !slices.Equal(got, want) {
				t.Errorf("round %d, user %d: memo gives %v, the check %v", round, i, got, want)
			}
			found += len(want)
		}
	}
	if found == 0 {
		t.Fatal("no user has a finding: the test proves nothing")
	}
}

// TestDefaultImmichUserSeeded: the memo's first entry, Immich's default
// Valkey user, is what checkServiceUser finds for it: nothing.
func TestDefaultImmichUserSeeded(t *testing.T) {
	var got []finding
	checkServiceUser(defaultImmichUser, func(path, reason, hint string) { got = append(got, finding{path, reason, hint}) })
	if len(got) != 0 {
		t.Fatalf("the default Immich user has findings, so the memo may not hold none for it: %v", got)
	}
	serviceUserMemo.Lock()
	fs, ok := serviceUserMemo.m[serviceUserKey(defaultImmichUser)]
	serviceUserMemo.Unlock()
	if !ok || fs != nil {
		t.Fatalf("the memo holds %v (present %v) for the default Immich user", fs, ok)
	}
}
