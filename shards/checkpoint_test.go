package shards

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// A claim's writes fail with ErrFenced once anyone else has claimed or
// written the checkpoint, and the checkpoint keeps what the other wrote.
func TestCheckpointClaims(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()

	mustClaim := func(t *testing.T, want Sequence) *CheckpointClaim {
		t.Helper()
		c, seq, err := s.ClaimCheckpoint(ctx, "archive", 0)
		if err != nil {
			t.Fatal(err)
		}
		if seq != want {
			t.Fatalf("claimed at %d, want %d", seq, want)
		}
		return c
	}
	mustSet := func(t *testing.T, c *CheckpointClaim, seq Sequence) {
		t.Helper()
		if err := c.Set(ctx, seq); err != nil {
			t.Fatalf("Set(%d): %v", seq, err)
		}
	}
	wantFenced := func(t *testing.T, c *CheckpointClaim, seq Sequence) {
		t.Helper()
		if err := c.Set(ctx, seq); !errors.Is(err, ErrFenced) {
			t.Fatalf("Set(%d) by a superseded claim: err = %v, want ErrFenced", seq, err)
		}
	}
	wantCheckpoint := func(t *testing.T, want Sequence) {
		t.Helper()
		if got, err := s.Checkpoint(ctx, "archive", 0); err != nil || got != want {
			t.Fatalf("checkpoint = %d, %v; want %d", got, err, want)
		}
	}

	tests := map[string]func(t *testing.T){
		"an absent checkpoint is claimed at 0": func(t *testing.T) {
			c := mustClaim(t, 0)
			wantCheckpoint(t, 0)
			mustSet(t, c, 5)
			mustSet(t, c, 6)
			wantCheckpoint(t, 6)
		},
		"a second claim fences the first": func(t *testing.T) {
			first := mustClaim(t, 0)
			mustSet(t, first, 5)
			second := mustClaim(t, 5)
			wantFenced(t, first, 6)
			wantCheckpoint(t, 5)
			mustSet(t, second, 7)
			wantFenced(t, first, 8) // for good
			wantCheckpoint(t, 7)
		},
		"SetCheckpoint fences a claim": func(t *testing.T) {
			c := mustClaim(t, 0)
			if err := s.SetCheckpoint(ctx, "archive", 0, 9); err != nil {
				t.Fatal(err)
			}
			wantFenced(t, c, 10)
			wantCheckpoint(t, 9)
			mustClaim(t, 9)
		},
		"DeleteCheckpoints fences a claim": func(t *testing.T) {
			c := mustClaim(t, 0)
			mustSet(t, c, 3)
			if err := s.DeleteCheckpoints(ctx, "archive", 1); err != nil {
				t.Fatal(err)
			}
			wantFenced(t, c, 4)
			wantCheckpoint(t, 0)
			mustSet(t, mustClaim(t, 0), 1)
			wantCheckpoint(t, 1)
		},
		"a claim's own write whose answer was lost is no fence": func(t *testing.T) {
			c := mustClaim(t, 0)
			mustSet(t, c, 1)
			// A write of c that reached the bucket, its answer lost: c
			// still expects the revision before it.
			lost := func(seq Sequence) {
				if _, err := s.cps.Update(ctx, c.key, checkpointValue(seq, c.token), c.rev); err != nil {
					t.Fatal(err)
				}
			}
			lost(2)
			mustSet(t, c, 2) // the same write again
			wantCheckpoint(t, 2)
			lost(3)
			mustSet(t, c, 4) // the next one
			wantCheckpoint(t, 4)
			mustSet(t, c, 5)
			wantCheckpoint(t, 5)
		},
	}
	for name, test := range tests {
		t.Run(name, func(t *testing.T) {
			if err := s.DeleteCheckpoints(ctx, "archive", 1); err != nil {
				t.Fatal(err)
			}
			test(t)
		})
	}
}

// Checkpoints written by claims read back as their sequence, for status and
// retention as for the deliveries.
func TestClaimedCheckpointReadsAsSequence(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	c, _, err := s.ClaimCheckpoint(ctx, "d.v1", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := MakeSequence(12, 7)
	if err := c.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checkpoint(ctx, "d.v1", 3); err != nil || got != want {
		t.Fatalf("Checkpoint = %d, %v; want %d", got, err, want)
	}
	if _, seq, err := s.ClaimCheckpoint(ctx, "d.v1", 3); err != nil || seq != want {
		t.Fatalf("claimed again at %d, %v; want %d", seq, err, want)
	}
}

// Of claims made concurrently, only the one that came last can write.
func TestConcurrentClaimsLeaveOneWriter(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	const n = 8
	claims := make([]*CheckpointClaim, n)
	var wg sync.WaitGroup
	for i := range claims {
		wg.Go(func() {
			c, _, err := s.ClaimCheckpoint(ctx, "archive", 0)
			if err != nil {
				t.Error(err)
				return
			}
			claims[i] = c
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	writers := 0
	for i, c := range claims {
		switch err := c.Set(ctx, Sequence(i+1)); {
		case err == nil:
			writers++
		case !errors.Is(err, ErrFenced):
			t.Fatal(err)
		}
	}
	if writers != 1 {
		t.Fatalf("%d of %d concurrent claims could write, want 1", writers, n)
	}
}
