package group

import (
	"reflect"
	"testing"
)

func TestBy(t *testing.T) {
	type m struct{ host, text string }
	items := []m{{"a", "x"}, {"b", "y"}, {"c", "x"}, {"d", "z"}, {"e", "y"}}
	keys, groups := By(items, func(it m) string { return it.text })
	if !reflect.DeepEqual(keys, []string{"x", "y", "z"}) {
		t.Errorf("keys %v", keys)
	}
	if !reflect.DeepEqual(groups["x"], []m{{"a", "x"}, {"c", "x"}}) || len(groups["z"]) != 1 {
		t.Errorf("groups %v", groups)
	}
}
