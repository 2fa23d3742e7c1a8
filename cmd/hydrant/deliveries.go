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
	// Generation is the delivery's replay count after the reset.
	Generation int `json:"generation"`
}

// errGenerationMoved is reset's error when the delivery was reset since
// the caller read its generation.
var errGenerationMoved = errors.New("moved")

// reset stops the delivery (it drains: what it had read is delivered and
// checkpointed), counts a replay (its batches carry a new name, so that
// destinations with ledgers load the records again rather than skip them,
// and object destinations write new objects rather than over the
// originals), rewrites its checkpoints to just before each shard's first
// record at p, and starts it again. generation, when not negative, is the
// replay count the caller last saw: a reset since refuses this one, so
// that a retried request does not replay twice.
//
// The count is written before any checkpoint: a reset cut short (an error
// on a shard, the process killed) leaves rewound shards replaying under
// the new name, never under the old one, and running it again rewinds
// them all.
func (l *live) reset(ctx context.Context, name string, p pipeline.StartPosition, generation int) (resetAnswer, int, error) {
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
	write := l.writeCheckpoints
	if write == nil {
		write = pipeline.WriteCheckpoints
	}
	ans := resetAnswer{Delivery: name, To: p.String(), Checkpoints: map[string]string{}}
	if generation >= 0 { // refused before the delivery is stopped; checked again under the stop
		if n, err := replayGeneration(ctx, l.env.store, name); err != nil {
			return ans, http.StatusServiceUnavailable, fmt.Errorf("nothing was changed, retry: %w", err)
		} else if n != generation {
			return ans, http.StatusConflict, fmt.Errorf("%s was reset since (generation %d, its batches named %s), not reset again: list it and retry if you still want to",
				name, n, batchName(name, n))
		}
	}
	err := l.cat.Reset(ctx, name, func(ctx context.Context, d awsapi.Delivery) error {
		ans.Stream = d.Source
		if ans.Stream == "" {
			ans.Stream = d.Name
		}
		n, err := replayGeneration(ctx, l.env.store, name)
		if err != nil {
			return err
		}
		ans.Generation = n
		if generation >= 0 && n != generation {
			return fmt.Errorf("%w: %s was reset since (generation %d, its batches named %s), not reset again: list it and retry if you still want to",
				errGenerationMoved, name, n, batchName(name, n))
		}
		plan, err := pipeline.PlanReset(ctx, l.env.store, ans.Stream, p)
		if err != nil {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		if err := l.env.store.PutMeta(ctx, replayKey(name), []byte(strconv.Itoa(n+1))); err != nil {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		ans.Generation, ans.BatchName = n+1, batchName(name, n+1)
		for id, seq := range plan {
			ans.Checkpoints[shards.ShardID(id)] = seq.String()
		}
		if err := write(ctx, l.env.store, name, plan); err != nil {
			return fmt.Errorf("the reset is half done: its batches are named %s but some shards were not rewound (%w); run the reset again to rewind every shard", ans.BatchName, err)
		}
		return nil
	})
	switch {
	case errors.Is(err, awsapi.ErrNotFound):
		return ans, http.StatusNotFound, err
	case errors.Is(err, errGenerationMoved):
		return ans, http.StatusConflict, err
	case err != nil:
		return ans, http.StatusInternalServerError, err
	}
	l.logger.Info("delivery reset: it delivers again from the position", "delivery", name, "to", ans.To,
		"shards", len(ans.Checkpoints), "batch_name", ans.BatchName)
	return ans, http.StatusOK, nil
}

// resetHandler serves POST /v1/deliveries/{name}/reset?to=TIME[&generation=N].
func (l *live) resetHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := parseResetTime(r.URL.Query().Get("to"), time.Now())
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "InvalidArgumentException", err.Error())
			return
		}
		generation := -1
		if g := r.URL.Query().Get("generation"); g != "" {
			if generation, err = strconv.Atoi(g); err != nil || generation < 0 {
				writeJSONError(w, http.StatusBadRequest, "InvalidArgumentException", "generation: want the delivery's replay count as GET /v1/deliveries lists it")
				return
			}
		}
		// A reset drains the delivery and may outlast the server's write
		// timeout.
		http.NewResponseController(w).SetWriteDeadline(time.Time{})
		ans, status, err := l.reset(r.Context(), r.PathValue("name"), p, generation)
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
	// Generation is its replay count (hydrant deliveries reset): a reset
	// given it is refused if the delivery was reset since.
	Generation int    `json:"generation"`
	Start      string `json:"start,omitempty"` // a declared one's start, as it first ran
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
			dl.BatchName, dl.Generation = batchName(d.Name, n), n
			if dl.Declared {
				if p, ok, err := pipeline.PinnedStart(r.Context(), l.env.store, d.Name); err == nil && ok {
					dl.Start = p.String()
				}
			}
			out = append(out, dl)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"deliveries": out})
	})
}
