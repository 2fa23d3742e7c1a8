package pipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// startKey is where a delivery's start is pinned at its first start
// (pinnedStart): the start it first ran with, and when.
func startKey(delivery string) string {
	return "start." + base64.RawURLEncoding.EncodeToString([]byte(delivery))
}

// latestKey is where an earlier Hydrant kept the time a delivery with
// start latest first started; still read, so that such a delivery keeps
// its first start across the upgrade.
func latestKey(delivery string) string {
	return "start-latest." + base64.RawURLEncoding.EncodeToString([]byte(delivery))
}

// pinnedStart is a delivery's start as it first ran: every shard it has
// no checkpoint of — now, after a restart, on another node or after a
// reshard — starts from it, whatever the config says later.
type pinnedStart struct {
	At         string `json:"at"`
	TimeNS     int64  `json:"time_ns,omitempty"`  // at timestamp
	Sequence   uint64 `json:"sequence,omitempty"` // at sequence
	FirstStart int64  `json:"first_start_ns"`     // when the delivery first started
}

func (p pinnedStart) position() StartPosition {
	sp := StartPosition{At: p.At, Sequence: shards.Sequence(p.Sequence)}
	if p.At == StartTimestamp {
		sp.Time = time.Unix(0, p.TimeNS)
	}
	return sp
}

// PinnedStart returns the start delivery first ran with (false: it has
// not started a shard without a checkpoint yet).
func PinnedStart(ctx context.Context, store *shards.Store, delivery string) (StartPosition, bool, error) {
	v, _, err := store.GetMeta(ctx, startKey(delivery))
	if err != nil || v == nil {
		return StartPosition{}, false, err
	}
	var p pinnedStart
	if err := json.Unmarshal(v, &p); err != nil {
		return StartPosition{}, false, fmt.Errorf("start of %s: %w", delivery, err)
	}
	return p.position(), true, nil
}

// resolveStart returns the delivery's pinned start, pinning its configured
// one (and the time now) at its first call.
func (d *Delivery) resolveStart(ctx context.Context) (pinnedStart, error) {
	want := pinnedStart{At: d.cfg.StartAt.At, FirstStart: d.now().UnixNano()}
	if want.At == "" {
		want.At = StartTrimHorizon
	}
	switch want.At {
	case StartTimestamp:
		want.TimeNS = d.cfg.StartAt.Time.UnixNano()
	case StartSequence:
		want.Sequence = uint64(d.cfg.StartAt.Sequence)
	case StartLatest:
		v, _, err := d.store.GetMeta(ctx, latestKey(d.cfg.Name))
		if err != nil {
			return pinnedStart{}, err
		}
		if ns, err := strconv.ParseInt(string(v), 10, 64); v != nil && err == nil {
			want.FirstStart = ns
		}
	}
	b, err := json.Marshal(want)
	if err != nil {
		return pinnedStart{}, err
	}
	v, err := d.store.MetaOnce(ctx, startKey(d.cfg.Name), b)
	if err != nil {
		return pinnedStart{}, err
	}
	var got pinnedStart
	if err := json.Unmarshal(v, &got); err != nil {
		return pinnedStart{}, fmt.Errorf("start of %s: %w", d.cfg.Name, err)
	}
	if got.At != want.At || got.TimeNS != want.TimeNS || got.Sequence != want.Sequence {
		d.logger.Warn("the delivery keeps the start it first ran with; start applies to new deliveries only (hydrant deliveries reset delivers again from a position)",
			"pinned", got.position().String(), "configured", d.cfg.StartAt.String())
	}
	return got, nil
}

// ForgetStart forgets a delivery's pinned start and its replay count: a
// delivery created again under its name starts afresh.
func ForgetStart(ctx context.Context, store *shards.Store, delivery string) error {
	for _, k := range []string{startKey(delivery), latestKey(delivery), ReplayKey(delivery)} {
		if err := store.DeleteMeta(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// ReplayKey is where the number of times a delivery was reset (hydrant
// deliveries reset) is kept.
func ReplayKey(delivery string) string {
	return "replay." + base64.RawURLEncoding.EncodeToString([]byte(delivery))
}

// applyStart moves a shard's checkpoint cp to the delivery's pinned start
// when the shard has none yet (cp 0), writing it through w so that the
// position holds from now on; else it returns cp.
//
// Latest is the first record put after the delivery first started. A
// sequence number counts within one shard, so on every shard it is
// capped at the delivery's first start: a shard starts at the record with
// that number or at the first record put after the delivery first
// started, whichever comes first. A shard a reshard opens later holds
// only records put after that, and is read whole.
func (d *Delivery) applyStart(ctx context.Context, shard int, w checkpointer, cp shards.Sequence) (shards.Sequence, error) {
	if cp != 0 {
		return cp, nil
	}
	pin, err := d.resolveStart(ctx)
	if err != nil {
		return 0, err
	}
	p := pin.position()
	if p.trimHorizon() {
		return 0, nil
	}
	firstStart := StartPosition{At: StartTimestamp, Time: time.Unix(0, pin.FirstStart)}
	var after shards.Sequence
	switch p.At {
	case StartLatest:
		after, err = firstStart.After(ctx, d.store, d.cfg.Stream, shard)
	case StartSequence:
		var limit shards.Sequence
		if limit, err = firstStart.After(ctx, d.store, d.cfg.Stream, shard); err == nil {
			after = min(p.Sequence-1, limit)
		}
	default:
		after, err = p.After(ctx, d.store, d.cfg.Stream, shard)
	}
	if err != nil || after == 0 {
		return 0, err
	}
	if err := w.Set(ctx, after); err != nil {
		return 0, err
	}
	d.logger.Info("shard has no checkpoint: starting at the delivery's start", "shard", shards.ShardID(shard),
		"start", p.String(), "after", after.String())
	return after, nil
}

// PlanReset returns, by shard ID, the checkpoints that make a delivery
// of stream deliver again from p (latest: from now): each shard's
// checkpoint just before its first record at p (the trim horizon: its
// oldest record kept). It writes nothing (see WriteCheckpoints).
func PlanReset(ctx context.Context, store *shards.Store, stream string, p StartPosition) (map[int]shards.Sequence, error) {
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
			return nil, fmt.Errorf("shard %s: %w", shards.ShardID(sh.ID), err)
		}
		out[sh.ID] = after
	}
	return out, nil
}

// WriteCheckpoints writes delivery's checkpoints of plan (PlanReset's),
// shard by shard; the delivery must not be running. Writing the same plan
// again is harmless: after an error, retry it whole.
func WriteCheckpoints(ctx context.Context, store *shards.Store, delivery string, plan map[int]shards.Sequence) error {
	ids := slices.Sorted(maps.Keys(plan))
	for _, id := range ids {
		if err := store.SetCheckpoint(ctx, delivery, id, plan[id]); err != nil {
			return fmt.Errorf("shard %s: %w", shards.ShardID(id), err)
		}
	}
	return nil
}
