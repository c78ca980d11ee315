// Package group says a thing once for everything it concerns: the one
// helper that groups identical messages (problems, warnings, upgrade
// notes) by the hosts of a fleet that share them, and the count they are
// said with.
package group

import "strconv"

// Plural says n of word, such as "1 host" or "3 hosts".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// By groups items by key, keeping the keys in the order in which each
// first appears and the items of a key in their order.
func By[T any, K comparable](items []T, key func(T) K) (keys []K, groups map[K][]T) {
	groups = map[K][]T{}
	for _, it := range items {
		k := key(it)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], it)
	}
	return keys, groups
}
