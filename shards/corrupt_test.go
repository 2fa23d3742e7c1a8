package shards

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards/seglog"
)

// A message in a shard that is not a record batch is reported once, with its
// bytes, and skipped: the records after it are read, a reader reopened past
// it does not see it again, and trimming goes past it.
func TestCorruptMessageIsSkipped(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("before")}}); err != nil {
		t.Fatal(err)
	}
	if err := appendRaw(ctx, s, "logs", 0, []byte("not a record batch")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReader(ctx, "logs", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := func() ([]StoredRecord, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return r.Next(ctx)
	}
	if recs, err := next(); err != nil || string(recs[0].Data) != "before" {
		t.Fatalf("first: %v %v", recs, err)
	}
	_, err = next()
	var corrupt *CorruptMessageError
	if !errors.As(err, &corrupt) || string(corrupt.Data) != "not a record batch" || corrupt.Last.Message() != 2 {
		t.Fatalf("second: %v, want the corrupt message 2 with its bytes", err)
	}
	if recs, err := next(); err != nil || string(recs[0].Data) != "after" {
		t.Fatalf("third: %v %v", recs, err)
	}

	// Reopened just past the corrupt message (its checkpoint), a reader goes on after it.
	r2, err := s.OpenReader(ctx, "logs", 0, corrupt.Last)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if recs, err := r2.Next(rctx); err != nil || string(recs[0].Data) != "after" {
		t.Fatalf("reopened: %v %v", recs, err)
	}

	// Trimming takes a checkpoint at the corrupt message as past it.
	if err := s.SetCheckpoint(ctx, "d", 0, corrupt.Last); err != nil {
		t.Fatal(err)
	}
	res, err := s.Trim(ctx, "logs", 0, []string{"d"}, time.Now())
	if err != nil || res[0].Purged != 2 {
		t.Fatalf("trim: %+v, %v; want messages 1 and 2 purged", res, err)
	}
}

// appendRaw appends data to a shard's log as a message of its own, whatever
// it holds.
func appendRaw(ctx context.Context, s *Store, stream string, shard int, data []byte) error {
	if s.js != nil {
		_, err := s.js.Publish(ctx, jsSubject(stream, shard), data)
		return err
	}
	_, err := s.seg.current().Append(ctx, segKey(stream, shard), seglog.Entry{Payload: data})
	return err
}
