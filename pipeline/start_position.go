package pipeline

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Where a delivery starts reading a shard it has no checkpoint of yet
// (StartPosition.At); Kinesis's initial positions.
const (
	StartTrimHorizon = "trim_horizon" // the oldest record kept (and the zero value)
	StartLatest      = "latest"       // the records put after the delivery first started
	StartTimestamp   = "timestamp"    // the first record that arrived at or after Time
	StartSequence    = "sequence"     // the record with Sequence, or the first after it
)

// StartPosition is where a delivery starts a shard it has no checkpoint
// of. The zero value is the trim horizon.
type StartPosition struct {
	At       string
	Time     time.Time       // StartTimestamp
	Sequence shards.Sequence // StartSequence
}

func (p StartPosition) String() string {
	switch p.At {
	case StartTimestamp:
		return "timestamp " + p.Time.UTC().Format(time.RFC3339Nano)
	case StartSequence:
		return "sequence " + p.Sequence.String()
	case "":
		return StartTrimHorizon
	}
	return p.At
}

// trimHorizon reports whether p reads from the oldest record: no
// checkpoint to write before reading.
func (p StartPosition) trimHorizon() bool { return p.At == "" || p.At == StartTrimHorizon }

// After returns the checkpoint that makes a reader of shard of stream
// start at p: the sequence just before the first record to deliver (0:
// from the oldest record kept).
func (p StartPosition) After(ctx context.Context, store *shards.Store, stream string, shard int) (shards.Sequence, error) {
	var first shards.Sequence
	var err error
	switch p.At {
	case "", StartTrimHorizon:
		return 0, nil
	case StartLatest:
		first, err = store.Position(ctx, stream, shard, "LATEST", time.Time{})
	case StartTimestamp:
		first, err = store.Position(ctx, stream, shard, "AT_TIMESTAMP", p.Time)
	case StartSequence:
		first = p.Sequence
	default:
		return 0, fmt.Errorf("unknown start position %q", p.At)
	}
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, nil
	}
	return first - 1, nil
}

// latestKey is where the time a delivery with start latest first started
// is kept: latest means the records put after that, on every shard the
// delivery reads for the first time, including those a reshard adds
// later, and across restarts and nodes.
func latestKey(delivery string) string {
	return "start-latest." + base64.RawURLEncoding.EncodeToString([]byte(delivery))
}

// resolveStart turns the delivery's start latest into the time it first
// started (kept in the store's catalog), so that every shard it has no
// checkpoint of, now or after a reshard or a restart, starts there.
func (d *Delivery) resolveStart(ctx context.Context) (StartPosition, error) {
	p := d.cfg.StartAt
	if p.At != StartLatest {
		return p, nil
	}
	now := strconv.FormatInt(d.now().UnixNano(), 10)
	v, err := d.store.MetaOnce(ctx, latestKey(d.cfg.Name), []byte(now))
	if err != nil {
		return p, err
	}
	ns, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return p, fmt.Errorf("start latest of %s: %w", d.cfg.Name, err)
	}
	return StartPosition{At: StartTimestamp, Time: time.Unix(0, ns)}, nil
}

// ForgetStart forgets when a delivery with start latest first started: a
// delivery created again under its name starts afresh.
func ForgetStart(ctx context.Context, store *shards.Store, delivery string) error {
	return store.DeleteMeta(ctx, latestKey(delivery))
}

// applyStart moves a shard's checkpoint cp to the delivery's start
// position when the shard has none yet (cp 0), writing it through w so
// that the position holds from now on; else it returns cp.
func (d *Delivery) applyStart(ctx context.Context, shard int, w checkpointer, cp shards.Sequence) (shards.Sequence, error) {
	if cp != 0 || d.cfg.StartAt.trimHorizon() {
		return cp, nil
	}
	p, err := d.resolveStart(ctx)
	if err != nil {
		return 0, err
	}
	after, err := p.After(ctx, d.store, d.cfg.Stream, shard)
	if err != nil || after == 0 {
		return 0, err
	}
	if err := w.Set(ctx, after); err != nil {
		return 0, err
	}
	d.logger.Info("shard has no checkpoint: starting at the configured position", "shard", shards.ShardID(shard),
		"start", d.cfg.StartAt.String(), "after", after.String())
	return after, nil
}

// ResetCheckpoints rewrites delivery's checkpoint of every shard of its
// stream so that it delivers again from p (latest: from now): each
// shard's checkpoint is set just before its first record at p (the trim
// horizon: its oldest record kept). The
// delivery must not be running. It returns the checkpoints written, by
// shard ID.
func ResetCheckpoints(ctx context.Context, store *shards.Store, delivery, stream string, p StartPosition) (map[int]shards.Sequence, error) {
	st, ok := store.Stream(stream)
	if !ok {
		return nil, fmt.Errorf("stream %q is not open", stream)
	}
	out := map[int]shards.Sequence{}
	for _, sh := range st.Lineage().Shards {
		var after shards.Sequence
		var err error
		if p.trimHorizon() {
			// Not 0, which would be "no checkpoint" and take the
			// delivery's start position again.
			if after, err = store.Position(ctx, stream, sh.ID, "TRIM_HORIZON", time.Time{}); after > 0 {
				after--
			}
		} else {
			after, err = p.After(ctx, store, stream, sh.ID)
		}
		if err != nil {
			return out, fmt.Errorf("shard %s: %w", shards.ShardID(sh.ID), err)
		}
		if err := store.SetCheckpoint(ctx, delivery, sh.ID, after); err != nil {
			return out, err
		}
		out[sh.ID] = after
	}
	return out, nil
}
