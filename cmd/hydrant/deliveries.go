package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// parseResetTime parses hydrant deliveries reset's -to: an RFC 3339 time,
// a duration ago (15m, 2h), trim_horizon or latest.
func parseResetTime(s string, now time.Time) (pipeline.StartPosition, error) {
	switch strings.ToLower(s) {
	case "trim_horizon":
		return pipeline.StartPosition{At: pipeline.StartTrimHorizon}, nil
	case "latest":
		return pipeline.StartPosition{At: pipeline.StartLatest}, nil
	case "":
		return pipeline.StartPosition{}, errors.New("-to is required: an RFC 3339 time, a duration ago (15m), trim_horizon or latest")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return pipeline.StartPosition{At: pipeline.StartTimestamp, Time: t}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return pipeline.StartPosition{At: pipeline.StartTimestamp, Time: now.Add(-d)}, nil
	}
	return pipeline.StartPosition{}, fmt.Errorf("-to %q: want an RFC 3339 time (2026-01-02T15:04:05Z), a duration ago (15m), trim_horizon or latest", s)
}

// resetAnswer is POST /v1/deliveries/{name}/reset's answer.
type resetAnswer struct {
	Delivery string `json:"delivery"`
	Stream   string `json:"stream"`
	To       string `json:"to"`
	// Checkpoints are the checkpoints written, by shard ID: each shard is
	// read again after its checkpoint.
	Checkpoints map[string]string `json:"checkpoints"`
	// BatchName is what the replayed batches carry: it names objects and
	// keys the destinations' ledgers.
	BatchName string `json:"batch_name"`
}

// reset stops the delivery (it drains: what it had read is delivered and
// checkpointed), rewrites its checkpoints to just before each shard's
// first record at p, counts a replay (its batches carry a new name, so
// that destinations with ledgers load the records again rather than skip
// them) and starts it again.
func (l *live) reset(ctx context.Context, name string, p pipeline.StartPosition) (resetAnswer, int, error) {
	if l.cluster {
		return resetAnswer{}, http.StatusConflict, errors.New("a reset is refused in a cluster (storage.nats): the other nodes hold this delivery's shards under leases " +
			"and would go on from their own checkpoints; remove the delivery from every node's config (reload), " +
			"then declare it under a new name with start: {at: timestamp}")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return resetAnswer{}, http.StatusServiceUnavailable, errors.New("the server is shutting down")
	}
	ans := resetAnswer{Delivery: name, To: p.String(), Checkpoints: map[string]string{}}
	err := l.cat.Reset(ctx, name, func(ctx context.Context, d awsapi.Delivery) error {
		ans.Stream = d.Source
		if ans.Stream == "" {
			ans.Stream = d.Name
		}
		n, err := replayGeneration(ctx, l.env.store, name)
		if err != nil {
			return err
		}
		cps, err := pipeline.ResetCheckpoints(ctx, l.env.store, name, ans.Stream, p)
		for id, seq := range cps {
			ans.Checkpoints[shards.ShardID(id)] = seq.String()
		}
		if err != nil {
			return err
		}
		ans.BatchName = batchName(name, n+1)
		return l.env.store.PutMeta(ctx, replayKey(name), []byte(strconv.Itoa(n+1)))
	})
	switch {
	case errors.Is(err, awsapi.ErrNotFound):
		return ans, http.StatusNotFound, err
	case err != nil:
		return ans, http.StatusInternalServerError, err
	}
	l.logger.Info("delivery reset: it delivers again from the position", "delivery", name, "to", ans.To,
		"shards", len(ans.Checkpoints), "batch_name", ans.BatchName)
	return ans, http.StatusOK, nil
}

// resetHandler serves POST /v1/deliveries/{name}/reset?to=TIME.
func (l *live) resetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := parseResetTime(r.URL.Query().Get("to"), time.Now())
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "InvalidArgumentException", err.Error())
			return
		}
		ans, status, err := l.reset(r.Context(), r.PathValue("name"), p)
		if err != nil {
			code := map[int]string{http.StatusNotFound: "ResourceNotFoundException", http.StatusConflict: "ResourceInUseException"}[status]
			if code == "" {
				code = "InternalFailure"
			}
			writeJSONError(w, status, code, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ans)
	})
}

// deliveryListing is one delivery of GET /v1/deliveries.
type deliveryListing struct {
	Name      string `json:"name"`
	Stream    string `json:"stream"`    // the stream it reads
	DirectPut bool   `json:"directPut"` // its stream is its own
	Declared  bool   `json:"declared"`  // in the config (else created through the Firehose API)
	BatchName string `json:"batch_name"`
	Start     string `json:"start,omitempty"` // a declared one's start position
}

// listHandler serves GET /v1/deliveries.
func (l *live) listHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		declared := deliveriesByName(l.cfg)
		l.mu.Unlock()
		out := []deliveryListing{}
		for _, d := range l.cat.Deliveries() {
			dl := deliveryListing{Name: d.Name, Stream: d.Source, DirectPut: d.Source == ""}
			if dl.DirectPut {
				dl.Stream = d.Name
			}
			if c, ok := declared[d.Name]; ok {
				dl.Declared, dl.Start = true, startPosition(c.Start).String()
			}
			n, err := replayGeneration(r.Context(), l.env.store, d.Name)
			if err != nil {
				writeJSONError(w, http.StatusServiceUnavailable, "InternalFailure", err.Error())
				return
			}
			dl.BatchName = batchName(d.Name, n)
			out = append(out, dl)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"deliveries": out})
	})
}
