package shards

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
