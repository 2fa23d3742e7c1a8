package postgres_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/postgres"
	pgserver "github.com/hydrant-dev/hydrant/e2e/postgres"
)

// The records one source record yields (a KPL aggregate's user records)
// share its sequence and differ in their sub-sequence: each loads once,
// and the rows Postgres rejects are reported again after a re-delivery,
// those and no other sub-record of their source record.
func TestSubRecordsLoadOnce(t *testing.T) {
	s := pgserver.Start(t)
	s.Exec(t, `CREATE TABLE subs (n bigint CHECK (n >= 0))`)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "subs", Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	b := &buffer.Batch{Delivery: "d1", ShardID: "shardId-000000000000"}
	for _, r := range []struct {
		seq  uint64
		sub  uint32
		data string
	}{{7, 0, `{"n":1}`}, {7, 1, `{"n":-1}`}, {7, 2, `{"n":2}`}, {7, 3, `{"n":-3}`}, {8, 0, `{"n":4}`}} {
		b.Records = append(b.Records, buffer.Record{Data: []byte(r.data), Sequence: r.seq, SubSequence: r.sub})
		b.Bytes += len(r.data)
	}
	for attempt := range 2 {
		err := d.Deliver(context.Background(), b)
		var re *destinations.RecordErrors
		if !errors.As(err, &re) {
			t.Fatalf("delivery %d: %v", attempt+1, err)
		}
		if got := slices.Sorted(maps.Keys(re.Failed)); !slices.Equal(got, []int{1, 3}) {
			t.Errorf("delivery %d: records %v failed, want 1 and 3 (%v)", attempt+1, got, re.Failed)
		}
	}
	if n := count(t, connect(t, s), "SELECT count(*) FROM subs"); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}
