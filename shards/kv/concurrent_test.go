package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

func TestListIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	b := bucket(t, openTemp(t, Options{NoSync: true}), "b")
	const nkeys, rounds = 10, 300
	key := func(i int) string { return fmt.Sprintf("k%02d", i) }
	for i := range nkeys {
		if _, err := b.Put(ctx, key(i), []byte("0")); err != nil {
			t.Fatal(err)
		}
	}
	// The writer sets every key to round r, in key order, round after
	// round: in any one moment the values never grow along the keys and
	// span at most two rounds.
	done := make(chan error, 1)
	go func() {
		for r := 1; r <= rounds; r++ {
			for i := range nkeys {
				if _, err := b.Put(ctx, key(i), []byte(strconv.Itoa(r))); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	lists := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if lists == 0 {
				t.Fatal("no List ran while writing")
			}
			t.Logf("%d lists while writing", lists)
			return
		default:
		}
		entries, err := b.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		lists++
		if len(entries) != nkeys {
			t.Fatalf("List has %d entries, want %d", len(entries), nkeys)
		}
		first, _ := strconv.Atoi(string(entries[0].Value))
		prev := first
		for _, e := range entries[1:] {
			v, _ := strconv.Atoi(string(e.Value))
			if v > prev || first-v > 1 {
				t.Fatalf("List is not one moment: %v", entries)
			}
			prev = v
		}
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	b := bucket(t, openTemp(t, Options{}), "b")
	if _, err := b.Create(ctx, "counter", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	var succeeded, conflicts int
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				e, err := b.Get(ctx, "counter")
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(e.Value))
				if err != nil {
					errs <- err
					return
				}
				_, err = b.Update(ctx, "counter", []byte(strconv.Itoa(n+1)), e.Revision)
				if errors.Is(err, ErrRevisionMismatch) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				done++
				mu.Lock()
				succeeded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, err := b.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value); got != strconv.Itoa(succeeded) || succeeded != workers*each {
		t.Fatalf("counter = %s after %d successful updates (want %d)", got, succeeded, workers*each)
	}
	// One Create plus one revision per successful update: failed updates
	// took none.
	if e.Revision != uint64(1+succeeded) {
		t.Errorf("counter at revision %d, want %d", e.Revision, 1+succeeded)
	}
	t.Logf("%d updates, %d conflicts", succeeded, conflicts)
}

func TestConcurrentCreateHasOneWinner(t *testing.T) {
	ctx := context.Background()
	b := bucket(t, openTemp(t, Options{NoSync: true}), "b")
	const racers = 16
	var wg sync.WaitGroup
	results := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, results[i] = b.Create(ctx, "k", []byte(strconv.Itoa(i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrKeyExists):
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	e, err := b.Get(ctx, "k")
	if err != nil || winner < 0 || string(e.Value) != strconv.Itoa(winner) {
		t.Fatalf("key = %q, %v; winner %d", e.Value, err, winner)
	}
}
