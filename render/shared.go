package render

import "sync"

// Shared lets the renders of a fleet's hosts make each distinct file
// once: a file whose renderer's whole input is the same on two hosts (the
// backup units and script, the database init, the upgrade dump, on most
// fleets) is rendered by the first host that needs it, and the others
// share its bytes. It only saves time and memory: a render with a Shared
// gives exactly the bytes of one without. One Shared serves one batch of
// renders (pipeline makes one per run) and is safe for concurrent use.
type Shared struct {
	mu    sync.Mutex
	files map[any]*sharedFile
}

type sharedFile struct {
	once sync.Once
	data []byte
}

// NewShared returns an empty Shared.
func NewShared() *Shared { return &Shared{files: map[any]*sharedFile{}} }

// sharedRenderer is a renderer whose output is a function of its input
// struct alone: it is handed nothing else, so the input it is keyed by is
// everything it can read. A field it needs is added to In, which makes it
// part of the key by construction. In must be comparable, which the
// compiler checks: strings, numbers, booleans and arrays or structs of
// them, never a pointer (two hosts' equal values would compare unequal)
// or a slice.
type sharedRenderer[In comparable] struct {
	render func(In) []byte
}

// sharedKey is an input under its renderer: two renderers never share an
// entry, even with equal inputs of one type.
type sharedKey[In comparable] struct {
	r  *sharedRenderer[In]
	in In
}

// of returns r's file for in: rendered now without a Shared, else once
// per distinct in. A shared slice has no spare capacity, so that an
// append to one host's file copies instead of writing into another's.
func (r *sharedRenderer[In]) of(s *Shared, in In) []byte {
	if s == nil {
		return r.render(in)
	}
	key := sharedKey[In]{r, in}
	s.mu.Lock()
	f := s.files[key]
	if f == nil {
		f = &sharedFile{}
		s.files[key] = f
	}
	s.mu.Unlock()
	f.once.Do(func() {
		b := r.render(in)
		f.data = b[:len(b):len(b)]
	})
	return f.data
}
