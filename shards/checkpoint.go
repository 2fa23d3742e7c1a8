package shards

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A checkpoint is one key of the checkpoint bucket per delivery and shard.
// Its value is the sequence in decimal, followed, when a claim wrote it, by a
// space and the claim's token: the revision a claim last wrote tells it
// whether anyone wrote since, and the token tells, after a write whose
// answer was lost, whether the write that came since was its own.

// ErrFenced is the error of a checkpoint write by a claim that a later claim
// of the same checkpoint has superseded (or a SetCheckpoint or
// DeleteCheckpoints since). It is not retryable: the caller lost the shard
// to another consumer, on this node or another, and must stop delivering it
// at once, writing nothing more; the new holder goes on from the checkpoint.
var ErrFenced = errors.New("checkpoint claimed by another consumer")

// Checkpoint returns the last sequence delivery has delivered from shard of
// its source stream, or 0 when it has delivered nothing yet.
func (s *Store) Checkpoint(ctx context.Context, delivery string, shard int) (Sequence, error) {
	v, _, err := s.cps.Get(ctx, checkpointKey(delivery, shard))
	if errors.Is(err, errKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s/%d: %w", delivery, shard, err)
	}
	seq, _, err := parseCheckpoint(v)
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s/%d: %w", delivery, shard, err)
	}
	return seq, nil
}

// SetCheckpoint records that delivery has delivered shard up to seq. It is
// durable when it returns (the store syncs the bucket like the shard log).
// It writes whatever claims hold the checkpoint, and fences them: a claim's
// next Set fails with ErrFenced.
func (s *Store) SetCheckpoint(ctx context.Context, delivery string, shard int, seq Sequence) error {
	if _, err := s.cps.Put(ctx, checkpointKey(delivery, shard), []byte(seq.String())); err != nil {
		return fmt.Errorf("checkpoint %s/%d: %w", delivery, shard, err)
	}
	return nil
}

// CheckpointClaim is a consumer's hold on one delivery's checkpoint of one
// shard: its writes succeed only while no one has claimed or written the
// checkpoint since. Safe for concurrent use.
type CheckpointClaim struct {
	store    *Store
	key      string
	delivery string
	shard    int
	token    string // in every value this claim writes

	mu     sync.Mutex
	rev    uint64 // revision of the claim's last write
	fenced bool
}

// ClaimCheckpoint reads delivery's checkpoint of shard and claims it: it
// writes the checkpoint again, on the condition that it is still what was
// read (creating it when absent), so that every earlier claim's writes fail
// with ErrFenced from now on. It returns the claim and the sequence to
// deliver after (0: from the start). A failure for want of a NATS leader is
// retried for up to 30 s; after another error nothing is claimed, and the
// caller may claim again.
func (s *Store) ClaimCheckpoint(ctx context.Context, delivery string, shard int) (*CheckpointClaim, Sequence, error) {
	c := &CheckpointClaim{store: s, key: checkpointKey(delivery, shard), delivery: delivery, shard: shard, token: randomID()}
	var seq Sequence
	err := retryTransient(ctx, func() (bool, error) {
		ctx, cancel := s.attemptContext(ctx)
		defer cancel()
		v, rev, err := s.cps.Get(ctx, c.key)
		if errors.Is(err, errKeyNotFound) {
			seq = 0
			rev, err := s.cps.Create(ctx, c.key, checkpointValue(0, c.token))
			if casConflict(err) {
				return true, err // written meanwhile: read it again
			}
			c.rev = rev
			return err != nil, err
		}
		if err != nil {
			return true, err
		}
		seq, _, err = parseCheckpoint(v)
		if err != nil {
			return false, err
		}
		rev, err = s.cps.Update(ctx, c.key, checkpointValue(seq, c.token), rev)
		if casConflict(err) {
			return true, err
		}
		c.rev = rev
		return err != nil, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("claim checkpoint %s/%d: %w", delivery, shard, err)
	}
	return c, seq, nil
}

// Set records that the claim's consumer has delivered its shard up to seq,
// durably when it returns, unless the checkpoint was claimed or written by
// another since this claim last wrote it: then it writes nothing and returns
// an error that is ErrFenced. A failure for want of a NATS leader is retried
// for up to 30 s; after another error the checkpoint may or may not hold
// seq, and calling Set again is safe.
func (c *CheckpointClaim) Set(ctx context.Context, seq Sequence) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fenced {
		return fmt.Errorf("checkpoint %s/%d: %w", c.delivery, c.shard, ErrFenced)
	}
	value := checkpointValue(seq, c.token)
	err := retryTransient(ctx, func() (bool, error) {
		ctx, cancel := c.store.attemptContext(ctx)
		defer cancel()
		rev, err := c.store.cps.Update(ctx, c.key, value, c.rev)
		if err == nil {
			c.rev = rev
			return false, nil
		}
		if !casConflict(err) {
			return true, err
		}
		// Written since this claim's last write: by another, or by a
		// write of this claim whose answer was lost.
		v, rev, err := c.store.cps.Get(ctx, c.key)
		if errors.Is(err, errKeyNotFound) {
			return false, ErrFenced // deleted
		}
		if err != nil {
			return true, err
		}
		cur, token, err := parseCheckpoint(v)
		if err != nil || token != c.token {
			return false, ErrFenced
		}
		c.rev = rev
		if cur == seq {
			return false, nil
		}
		return true, errCheckpointMoved // ours: write over it
	})
	if errors.Is(err, ErrFenced) {
		c.fenced = true
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s/%d: %w", c.delivery, c.shard, err)
	}
	return nil
}

// errCheckpointMoved makes retryTransient write again at once over a write
// of the claim's own whose answer was lost.
var errCheckpointMoved = errors.New("checkpoint moved by a lost write of this claim")

// checkpointTimeout bounds the retries of a checkpoint read or write.
const checkpointTimeout = 30 * time.Second

// retryTransient runs f until it succeeds, or fails with again false, or
// fails for another reason than NATS being between leaders or servers,
// for up to checkpointTimeout.
func retryTransient(ctx context.Context, f func() (again bool, err error)) error {
	deadline := time.Now().Add(checkpointTimeout)
	wait := retryWaitMin
	for {
		again, err := f()
		if err == nil || !again || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		if errors.Is(err, errCheckpointMoved) || casConflict(err) {
			continue // an answer, not a failure: go on at once
		}
		var local *localError
		if errors.As(err, &local) || !retryablePublish(err) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait = min(2*wait, retryWaitMax)
	}
}

// casConflict reports whether a KV write failed because the key was not at
// the revision it expected.
func casConflict(err error) bool { return errors.Is(err, errCASConflict) }

func checkpointValue(seq Sequence, token string) []byte {
	return []byte(seq.String() + " " + token)
}

// parseCheckpoint reads a checkpoint's value: a sequence, and the token of
// the claim that wrote it ("" for SetCheckpoint).
func parseCheckpoint(v []byte) (Sequence, string, error) {
	num, token, _ := strings.Cut(string(v), " ")
	seq, err := ParseSequence(num)
	return seq, token, err
}

func checkpointKey(delivery string, shard int) string {
	return escapeName(delivery) + "." + strconv.Itoa(shard)
}
