package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKinesis serves ListShards, GetShardIterator and GetRecords over
// shards holding fixed numbers of records; an iterator is "shard/next".
// Its first GetRecords call is refused as busy, and every call's Limit
// and MillisBehindLatest are recorded.
type fakeKinesis struct {
	held    map[string]int // records by shard id
	missing bool           // the stream does not exist

	mu      sync.Mutex
	refused bool
	limits  []int
	idle    int // answers with no records and MillisBehindLatest 0
}

func (f *fakeKinesis) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		StreamName, NextToken, ShardId, ShardIteratorType, ShardIterator string
		Limit                                                            int
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fail := func(status int, typ string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":"no"}`, typ)
	}
	if f.missing {
		fail(http.StatusBadRequest, "ResourceNotFoundException")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202."); op {
	case "ListShards": // one shard per page
		ids := make([]string, 0, len(f.held))
		for id := range f.held {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		i, _ := strconv.Atoi(in.NextToken)
		next := ""
		if i+1 < len(ids) {
			next = strconv.Itoa(i + 1)
		}
		json.NewEncoder(w).Encode(map[string]any{"Shards": []map[string]string{{"ShardId": ids[i]}}, "NextToken": next})
	case "GetShardIterator":
		if in.ShardIteratorType != "TRIM_HORIZON" {
			fail(http.StatusBadRequest, "InvalidArgumentException")
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"ShardIterator": in.ShardId + "/0"})
	case "GetRecords":
		if !f.refused {
			f.refused = true
			fail(http.StatusServiceUnavailable, "ServiceUnavailableException")
			return
		}
		f.limits = append(f.limits, in.Limit)
		shard, at, _ := strings.Cut(in.ShardIterator, "/")
		next, _ := strconv.Atoi(at)
		n := min(in.Limit, f.held[shard]-next)
		recs := make([]map[string]string, n)
		for i := range recs {
			recs[i] = map[string]string{"SequenceNumber": strconv.Itoa(next + i), "Data": "eyJhIjoxfQ==", "PartitionKey": "k"}
		}
		behind := 1000 * (f.held[shard] - next - n)
		if n == 0 && behind == 0 {
			f.idle++
		}
		json.NewEncoder(w).Encode(map[string]any{"Records": recs,
			"NextShardIterator": fmt.Sprintf("%s/%d", shard, next+n), "MillisBehindLatest": behind})
	default:
		fail(http.StatusBadRequest, "UnknownOperationException")
	}
}

func TestConsumerReadsEveryShard(t *testing.T) {
	f := &fakeKinesis{held: map[string]int{"shardId-000000000000": 25000, "shardId-000000000001": 3}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	client := newClient(2)
	defer client.CloseIdleConnections()
	c := newConsumer(client, srv.URL, "bench")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.run(ctx) }()

	// Poll until both shards are read to their end and have gone idle.
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for range poll.C {
		f.mu.Lock()
		idle := f.idle
		f.mu.Unlock()
		if st := c.state(); st.records == 25003 && idle >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %+v after 10s, want 25003 records and both shards idle", c.state())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	st := c.state()
	if st.failedCalls != 1 || st.maxBehindMillis != 0 {
		t.Errorf("state %+v: want the one refused call retried and nothing behind", st)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.limits {
		if l != consumerLimit {
			t.Fatalf("GetRecords Limit %d, want %d", l, consumerLimit)
		}
	}
	// 25000 records take 3 calls of at most 10000; the small shard 1;
	// then each shard answers empty at least once.
	if len(f.limits) < 6 {
		t.Errorf("%d GetRecords calls, want at least 6", len(f.limits))
	}
}

func TestConsumerDrains(t *testing.T) {
	f := &fakeKinesis{held: map[string]int{"shardId-000000000000": 12345, "shardId-000000000001": 0, "shardId-000000000002": 7}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	client := newClient(3)
	defer client.CloseIdleConnections()
	c := newConsumer(client, srv.URL, "bench")
	c.drain = true
	if err := c.run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := c.state().records; got != 12352 {
		t.Errorf("drained %d records, want 12352", got)
	}
}

func TestConsumerStopsOnAnErrorRetryingCannotFix(t *testing.T) {
	srv := httptest.NewServer(&fakeKinesis{missing: true})
	defer srv.Close()
	client := newClient(1)
	defer client.CloseIdleConnections()
	err := newConsumer(client, srv.URL, "nope").run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("run = %v, want ResourceNotFoundException", err)
	}
}

func TestConsumerSummary(t *testing.T) {
	start := consumerState{records: 1000, calls: 10, failedCalls: 1}
	end := consumerState{records: 21000, calls: 30, failedCalls: 3, maxBehindMillis: 120}
	tests := map[string]struct {
		ingested   int64
		put        float64
		wantKeptUp bool
		wantShare  float64
	}{
		"caught up":    {ingested: 21500, put: 2000, wantKeptUp: true, wantShare: 1},
		"behind":       {ingested: 30000, put: 4000, wantKeptUp: false, wantShare: 0.5},
		"read it all":  {ingested: 21000, put: 2000, wantKeptUp: true, wantShare: 1},
		"nothing sent": {ingested: 0, put: 0, wantKeptUp: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newConsumerSummary(start, end, tc.ingested, 10*time.Second, 1024, tc.put)
			if s.RecordsPerSecond != 2000 || s.Calls != 20 || s.FailedCalls != 2 || s.MillisBehindLatest != 120 {
				t.Errorf("summary %+v: want 2000 records/s, 20 calls, 2 failed, 120 ms behind", s)
			}
			if s.KeptUp != tc.wantKeptUp || s.ShareOfPut != tc.wantShare || s.BacklogRecords != max(0, tc.ingested-21000) {
				t.Errorf("summary %+v: want kept up %v, share %v", s, tc.wantKeptUp, tc.wantShare)
			}
			note := s.note()
			if !strings.Contains(note, "consumer read 2000 records/s") || !strings.Contains(note, "2 of its calls retried") {
				t.Errorf("note %q", note)
			}
		})
	}
}
