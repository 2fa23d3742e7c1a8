package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/hydrant-dev/hydrant/destinations"
)

// Consumer settings, as the KCL's defaults.
const (
	// consumerLimit is GetRecords' Limit: the most records a call returns.
	consumerLimit = 10000
	// consumerIdle is how long a shard's reader waits after a call that
	// returned nothing while MillisBehindLatest was 0, and after a call
	// the server refused as busy.
	consumerIdle = 200 * time.Millisecond
)

// consumer reads every shard of a stream from TRIM_HORIZON through the
// Kinesis API, as a KCL worker does: one reader per shard calling
// GetRecords with Limit consumerLimit and following NextShardIterator,
// pausing consumerIdle only when a call returned no records and
// MillisBehindLatest was 0. It counts what it read; it does not decode
// the records' data.
type consumer struct {
	client       *http.Client
	base, stream string
	// drain, when set, stops each shard's reader at its first call that
	// returns no records with MillisBehindLatest 0, instead of pausing:
	// run then returns once everything put before has been read.
	drain bool

	records     atomic.Int64 // read in all
	calls       atomic.Int64 // GetRecords calls answered
	failedCalls atomic.Int64 // calls refused as busy or that did not reach the server, then retried

	mu     sync.Mutex
	behind map[string]int64 // by shard: MillisBehindLatest of its last answer
}

// consumerState is what the consumer had read at one moment.
type consumerState struct {
	records, calls, failedCalls int64
	maxBehindMillis             int64 // the largest of the shards' last MillisBehindLatest
}

// newConsumer returns a consumer of stream at base.
func newConsumer(client *http.Client, base, stream string) *consumer {
	return &consumer{client: client, base: base, stream: stream, behind: make(map[string]int64)}
}

// state is what the consumer has read so far.
func (c *consumer) state() consumerState {
	s := consumerState{records: c.records.Load(), calls: c.calls.Load(), failedCalls: c.failedCalls.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ms := range c.behind {
		s.maxBehindMillis = max(s.maxBehindMillis, ms)
	}
	return s
}

// run lists the stream's shards, retrying until the server answers, and
// reads them all until ctx ends or a shard's reader fails with an error
// that retrying cannot fix. It returns nil once ctx has ended.
func (c *consumer) run(ctx context.Context) error {
	var buf bytes.Buffer
	var shardIDs []string
	err := c.retry(ctx, func() error {
		var err error
		shardIDs, err = listShards(ctx, c.client, c.base, c.stream, &buf)
		return err
	})
	if err != nil {
		return ignoreDone(ctx, err)
	}
	readers, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, id := range shardIDs {
		wg.Go(func() {
			if err := c.readShard(readers, id); err != nil {
				cancel(fmt.Errorf("shard %s: %w", id, err))
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil || readers.Err() == nil {
		return nil // the run is over, or every shard was closed
	}
	return context.Cause(readers)
}

// readShard reads shard from TRIM_HORIZON until ctx ends or the shard is
// closed.
func (c *consumer) readShard(ctx context.Context, shard string) error {
	var buf bytes.Buffer
	var it string
	err := c.retry(ctx, func() error {
		var out struct{ ShardIterator string }
		err := callKinesis(ctx, c.client, c.base, "GetShardIterator",
			map[string]string{"StreamName": c.stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"},
			&buf, gojson.Unmarshal, &out)
		it = out.ShardIterator
		return err
	})
	for err == nil && it != "" {
		var out getRecordsAnswer
		err = c.retry(ctx, func() error {
			return callKinesis(ctx, c.client, c.base, "GetRecords",
				map[string]any{"ShardIterator": it, "Limit": consumerLimit}, &buf, gojson.Unmarshal, &out)
		})
		if err != nil {
			break
		}
		c.calls.Add(1)
		c.records.Add(int64(len(out.Records)))
		c.mu.Lock()
		c.behind[shard] = out.MillisBehindLatest
		c.mu.Unlock()
		it = out.NextShardIterator
		if len(out.Records) == 0 && out.MillisBehindLatest == 0 {
			if c.drain {
				return nil
			}
			err = destinations.Sleep(ctx, consumerIdle)
		}
	}
	return ignoreDone(ctx, err)
}

// getRecordsAnswer is the part of a GetRecords answer the consumer reads:
// the records' data is skipped, not decoded.
type getRecordsAnswer struct {
	Records []struct {
		SequenceNumber string
	}
	NextShardIterator  string
	MillisBehindLatest int64
}

// retry calls f until it succeeds, fails with an error retrying cannot
// fix, or ctx ends, waiting consumerIdle between attempts.
func (c *consumer) retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		var aerr *awsError
		if err == nil || ctx.Err() != nil || (errors.As(err, &aerr) && !aerr.retryable()) {
			return err
		}
		c.failedCalls.Add(1)
		if err := destinations.Sleep(ctx, consumerIdle); err != nil {
			return err
		}
	}
}

// listShards returns the ids of stream's shards, following NextToken.
func listShards(ctx context.Context, client *http.Client, base, stream string, buf *bytes.Buffer) ([]string, error) {
	var ids []string
	in := map[string]string{"StreamName": stream}
	for {
		var out struct {
			Shards    []struct{ ShardId string }
			NextToken string
		}
		if err := callKinesis(ctx, client, base, "ListShards", in, buf, gojson.Unmarshal, &out); err != nil {
			return nil, err
		}
		for _, s := range out.Shards {
			ids = append(ids, s.ShardId)
		}
		if out.NextToken == "" {
			return ids, nil
		}
		in = map[string]string{"NextToken": out.NextToken}
	}
}

// ignoreDone is err, or nil when ctx has ended (whatever failed then
// failed because the run was over).
func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// ConsumerSummary is what the GetRecords consumer read during a run's
// window, beside the producers.
type ConsumerSummary struct {
	RecordsPerSecond float64 `json:"records_per_second"` // read during the window
	MiBPerSecond     float64 `json:"mib_per_second"`
	ShareOfPut       float64 `json:"share_of_put"` // of the records/s put in the window
	// BacklogRecords were put (hydrant_ingest_incoming_records_total) but
	// not yet read at the end of the window.
	BacklogRecords int64 `json:"backlog_records"`
	// MillisBehindLatest is the largest of the shards' last answers at the
	// end of the window.
	MillisBehindLatest int64 `json:"millis_behind_latest"`
	Calls              int64 `json:"calls"`        // GetRecords answered during the window
	FailedCalls        int64 `json:"failed_calls"` // refused as busy or unanswered during the window, then retried
	// KeptUp: at the end of the window it was less than one second of
	// puts behind.
	KeptUp bool   `json:"kept_up"`
	Error  string `json:"error,omitempty"` // it stopped on an error retrying could not fix
}

// newConsumerSummary sums up what the consumer read between start and
// end, window apart, while producers put putPerSecond records/s of
// recordSize bytes and the stream held ingested records in all at the
// end.
func newConsumerSummary(start, end consumerState, ingested int64, window time.Duration, recordSize int, putPerSecond float64) *ConsumerSummary {
	secs := window.Seconds()
	s := &ConsumerSummary{
		RecordsPerSecond:   float64(end.records-start.records) / secs,
		BacklogRecords:     max(0, ingested-end.records),
		MillisBehindLatest: end.maxBehindMillis,
		Calls:              end.calls - start.calls,
		FailedCalls:        end.failedCalls - start.failedCalls,
	}
	s.MiBPerSecond = s.RecordsPerSecond * float64(recordSize) / (1 << 20)
	if putPerSecond > 0 {
		s.ShareOfPut = s.RecordsPerSecond / putPerSecond
	}
	s.KeptUp = float64(s.BacklogRecords) < max(putPerSecond, 1)
	return s
}

// note is the summary for the matrix's note column.
func (s *ConsumerSummary) note() string {
	verdict := "kept up"
	if !s.KeptUp {
		verdict = "fell behind"
	}
	note := fmt.Sprintf("consumer read %.0f records/s (%.0f%% of put); at the end %d records behind, MillisBehindLatest %d: %s",
		s.RecordsPerSecond, 100*s.ShareOfPut, s.BacklogRecords, s.MillisBehindLatest, verdict)
	if s.FailedCalls > 0 {
		note += fmt.Sprintf("; %d of its calls retried", s.FailedCalls)
	}
	if s.Error != "" {
		note += "; consumer stopped: " + s.Error
	}
	return note
}
