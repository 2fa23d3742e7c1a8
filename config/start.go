package config

import (
	"strconv"
	"time"
)

// Where a new delivery starts reading a shard that it has no checkpoint
// of yet (StartConfig.At).
const (
	StartTrimHorizon = "trim_horizon" // the oldest record the stream keeps (default)
	StartLatest      = "latest"       // records put after the delivery first started
	StartTimestamp   = "timestamp"    // the first record that arrived at or after Timestamp
	StartSequence    = "sequence"     // the record with Sequence, or the first after it
)

// StartConfig is where a delivery starts reading the shards it has no
// checkpoint of yet: a delivery that has checkpointed a shard goes on
// from its checkpoint, whatever start says. It is pinned at the
// delivery's first start: changed later, it applies to nothing (hydrant
// deliveries reset delivers again from a position). It is Kinesis's initial
// position in a stream (TRIM_HORIZON, LATEST, AT_TIMESTAMP,
// AT_SEQUENCE_NUMBER), for a backfill or a shadow delivery.
type StartConfig struct {
	At string `yaml:"at"` // trim_horizon (default), latest, timestamp or sequence
	// Timestamp is an RFC 3339 time (at: timestamp only).
	Timestamp string `yaml:"timestamp"`
	// Sequence is a sequence number as Hydrant's APIs return it (at:
	// sequence only), for a stream of one shard above all. Sequence
	// numbers count within a shard, so on a stream of several each shard
	// starts at the record with that number or at the first record put
	// after the delivery first started, whichever comes first: nothing put
	// after the delivery started is skipped, on a quieter shard either. A
	// shard a reshard opens later is read whole.
	Sequence string `yaml:"sequence"`
}

// Time returns the parsed timestamp of at: timestamp.
func (c StartConfig) Time() (time.Time, error) { return time.Parse(time.RFC3339Nano, c.Timestamp) }

// Validate checks the start position.
func (c StartConfig) Validate() []FieldError {
	var errs fieldErrors
	switch c.At {
	case "", StartTrimHorizon, StartLatest:
		if c.Timestamp != "" {
			errs.add("timestamp", "only with at: timestamp")
		}
		if c.Sequence != "" {
			errs.add("sequence", "only with at: sequence")
		}
	case StartTimestamp:
		if c.Timestamp == "" {
			errs.add("timestamp", "required with at: timestamp (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
		} else if _, err := c.Time(); err != nil {
			errs.add("timestamp", "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
		if c.Sequence != "" {
			errs.add("sequence", "only with at: sequence")
		}
	case StartSequence:
		if c.Sequence == "" {
			errs.add("sequence", "required with at: sequence (a decimal sequence number)")
		} else if n, err := strconv.ParseUint(c.Sequence, 10, 64); err != nil || n == 0 {
			errs.add("sequence", "must be a positive decimal sequence number, as Hydrant's APIs return it")
		}
		if c.Timestamp != "" {
			errs.add("timestamp", "only with at: timestamp")
		}
	default:
		errs.add("at", "must be one of trim_horizon, latest, timestamp, sequence")
	}
	return errs
}
