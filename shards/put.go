package shards

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrThrottled is the error of a record refused by its shard's quota.
var ErrThrottled = errors.New("rate exceeded")

// PutResult is the outcome of one record of a Put.
type PutResult struct {
	Shard    int
	Sequence Sequence
	// Err is nil when the record is stored, ErrThrottled when its shard's
	// quota refused it (ErrDiskBudget, which is ErrThrottled too, when the
	// log is at its disk budget), ErrUnavailable while the log cannot store
	// records (its disk is full), and the log's error when it could not be
	// stored.
	Err error
}

// Put routes each record to its shard (by HashKey when set, else by the MD5
// of its partition key), admits it against the shard's quota at now, and
// appends the admitted records of each shard (none while the log is at its
// disk budget; none while it is not writable), shards in parallel. It
// returns a result per record, in order: a throttled or failed record fails
// alone. Put returns only when the log is done with recs.
func (st *Stream) Put(ctx context.Context, now time.Time, recs []Record) []PutResult {
	return st.put(ctx, now, recs, false)
}

// PutAll is Put for a request that must be stored whole or not at all:
// every record is admitted, or none is and every result carries the same
// refusal (ErrThrottled when a shard's quota cannot take its part,
// ErrDiskBudget, ErrUnavailable), with nothing stored and no quota spent.
// A shard's part larger than one second of its limits is admitted when
// its quota is full, leaving it in debt, so that it is not refused forever.
// Only the log's own failure to append (a disk error) can store a part.
func (st *Stream) PutAll(ctx context.Context, now time.Time, recs []Record) []PutResult {
	return st.put(ctx, now, recs, true)
}

func (st *Stream) put(ctx context.Context, now time.Time, recs []Record, whole bool) []PutResult {
	results := make([]PutResult, len(recs))
	st.mu.RLock() // a reshard waits for the put to be stored
	defer st.mu.RUnlock()
	route := st.route
	// Indexes of admitted records, by open shard (position in route): a
	// stream's closed shards, however many, cost a put nothing.
	perShard := make([][]int, len(route.ids))
	if st.health.down.Load() {
		for i, rec := range recs {
			results[i] = PutResult{Shard: route.ids[st.openIndex(rec)], Err: ErrUnavailable}
		}
		return results
	}
	held, full := st.hold()
	for i, rec := range recs {
		open := st.openIndex(rec)
		shard := route.ids[open]
		results[i].Shard = shard
		switch {
		case full:
			results[i].Err = ErrDiskBudget
		case whole:
			perShard[open] = append(perShard[open], i)
		case !st.quotas[shard].Admit(now, rec.Size()):
			results[i].Err = ErrThrottled
		default:
			perShard[open] = append(perShard[open], i)
		}
	}
	if whole && !full {
		if err := ctx.Err(); err != nil {
			for i := range results {
				results[i].Err = err
			}
			st.admitted(held, recs, nil) // refused whole: releases the hold
			return results
		}
		if !st.admitAll(now, route.ids, perShard, recs) {
			for i := range results {
				results[i].Err = ErrThrottled
			}
		}
		// Admitted whole, stored whole: a client that goes away now must
		// not leave some shards' parts stored and others' not.
		ctx = context.WithoutCancel(ctx)
	}
	st.countThrottled(results, full)
	if whole && len(results) > 0 && results[0].Err != nil {
		st.admitted(held, recs, nil) // refused whole: releases the hold
		return results
	}
	st.admitted(held, recs, perShard) // the budgets count the admitted records from now
	var wg sync.WaitGroup
	for open, idx := range perShard {
		if len(idx) == 0 {
			continue
		}
		shard := route.ids[open]
		wg.Go(func() {
			batch := make([]Record, len(idx))
			for j, i := range idx {
				batch[j] = recs[i]
			}
			seqs, err := st.appendLocked(ctx, shard, batch)
			for j, i := range idx {
				if j < len(seqs) {
					results[i].Sequence = seqs[j]
				} else {
					results[i].Err = err
				}
			}
		})
	}
	wg.Wait()
	return results
}

// openIndex returns the position among the open shards (in st.route) of
// the shard rec belongs to: by its HashKey when set, else by the MD5 of its
// partition key. st.mu is held.
func (st *Stream) openIndex(rec Record) int {
	h := HashPartitionKey(rec.PartitionKey)
	if rec.HashKey != nil {
		h = *rec.HashKey
	}
	return st.route.index(h)
}

// countThrottled counts the records Put refused, by shard and reason.
// Before the appends, every error in results is a refusal.
func (st *Stream) countThrottled(results []PutResult, full bool) {
	if st.throttled == nil {
		return
	}
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		c := st.throttled[r.Shard]
		if c == nil {
			continue
		}
		if full {
			c.budget.Inc()
		} else {
			c.quota.Inc()
		}
	}
}
