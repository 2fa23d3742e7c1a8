package shards

import (
	"slices"
	"strings"
)

// Counts returns how many streams the store has open and their shards in
// all: what limits on streams and shards are checked against.
func (s *Store) Counts() (streams, shards int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		streams++
		shards += st.OpenShards()
	}
	return streams, shards
}

// Streams returns the open streams, by name.
func (s *Store) Streams() []*Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Stream) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}
