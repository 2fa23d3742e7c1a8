package shards

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MetaEvent is one entry of WatchMeta: a definition as it is now (Value),
// one removed (Deleted), or, once, the mark that every definition stored
// when the watch began has been sent (Synced).
type MetaEvent struct {
	Key     string
	Value   []byte
	Deleted bool
	Synced  bool
}

// WatchMeta sends every definition of the catalog (PutMeta's keys), then a
// Synced event, then each change as it is stored, by this node or by any
// other sharing the log, until ctx ends; then it closes the channel. It
// may close it earlier when the watch breaks (the NATS cluster lost its
// stream, say): watch again, which sends everything again. On the
// embedded log no other node writes, so after Synced nothing more comes.
func (s *Store) WatchMeta(ctx context.Context) (<-chan MetaEvent, error) {
	out := make(chan MetaEvent, 16)
	jb, ok := s.meta.(jsBucket)
	if !ok {
		values, err := s.ListMeta(ctx, "")
		if err != nil {
			return nil, err
		}
		go func() {
			defer close(out)
			for k, v := range values {
				if !sendMeta(ctx, out, MetaEvent{Key: k, Value: v}) {
					return
				}
			}
			if sendMeta(ctx, out, MetaEvent{Synced: true}) {
				<-ctx.Done()
			}
		}()
		return out, nil
	}
	w, err := jb.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog: watch: %w", err)
	}
	go func() {
		defer close(out)
		defer drainWatcher(w)
		for {
			select {
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				ev := MetaEvent{Synced: true}
				if e != nil {
					ev = MetaEvent{Key: e.Key(), Value: e.Value(), Deleted: e.Operation() != jetstream.KeyValuePut}
				}
				if !sendMeta(ctx, out, ev) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func sendMeta(ctx context.Context, out chan<- MetaEvent, ev MetaEvent) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// drainWatcher stops w and drains what it still delivers, so that its
// goroutine, which blocks on a full channel, can end.
func drainWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			return
		}
	}
}

// ErrStreamNotFound is CreateStream's error for a StreamSpec.Existing whose
// stream no node has created (or one deleted it): nothing to retry.
var ErrStreamNotFound = errors.New("no such stream in the shard log")

// CloseStream stops this node's appenders of a stream and forgets it,
// leaving its shards' logs as they are: for a stream another node deleted
// (DeleteStream there deletes the logs), or one this node stops serving.
// Closing a stream that is not open is no error.
func (s *Store) CloseStream(name string) {
	s.mu.Lock()
	st, ok := s.streams[name]
	delete(s.streams, name)
	s.open.Store(int32(len(s.streams)))
	s.mu.Unlock()
	if ok {
		st.closeAppenders()
	}
}
