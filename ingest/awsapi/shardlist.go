package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// How ListShards and DescribeStream show a stream's shards: every shard of
// its lineage but the expired ones, as Kinesis lists them, and ListShards'
// filters (the ShardFilter types of the API reference).

// defaultRetention is the retention of a stream whose Retention is unset.
const defaultRetention = 24 * time.Hour

// listShardsTokenTTL is how long a ListShards NextToken may be used, as in
// AWS.
const listShardsTokenTTL = 300 * time.Second

type hashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type sequenceNumberRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

type shardDescription struct {
	ShardID               string              `json:"ShardId"`
	ParentShardID         string              `json:"ParentShardId,omitempty"`
	AdjacentParentShardID string              `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          hashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   sequenceNumberRange `json:"SequenceNumberRange"`
}

func describeRange(r shards.HashRange) hashKeyRange {
	return hashKeyRange{StartingHashKey: r.Start.String(), EndingHashKey: r.End.String()}
}

// describeShard describes one shard as Kinesis does: a closed shard ends at
// the last record it can hold.
func describeShard(sh shards.Shard) shardDescription {
	d := shardDescription{
		ShardID:             shards.ShardID(sh.ID),
		HashKeyRange:        describeRange(sh.Range),
		SequenceNumberRange: sequenceNumberRange{StartingSequenceNumber: shards.MakeSequence(1, 0).String()},
	}
	if sh.Parent >= 0 {
		d.ParentShardID = shards.ShardID(sh.Parent)
	}
	if sh.AdjacentParent >= 0 {
		d.AdjacentParentShardID = shards.ShardID(sh.AdjacentParent)
	}
	if !sh.IsOpen() {
		d.SequenceNumberRange.EndingSequenceNumber = shards.LastSequence(sh.LastMessage).String()
	}
	return d
}

// shardView is a stream's lineage as the APIs show it at one moment.
type shardView struct {
	lin *shards.Lineage
	// horizon is the trim horizon: now less the stream's retention, or its
	// creation when that is later. A shard closed before it is expired:
	// every record it took is past retention, and it is listed no more.
	horizon time.Time
}

func newShardView(st Stream, now time.Time) shardView {
	retention := st.Retention
	if retention <= 0 {
		retention = defaultRetention
	}
	horizon := now.Add(-retention)
	if created := st.Log.Created(); created.After(horizon) {
		horizon = created
	}
	return shardView{lin: st.Log.Lineage(), horizon: horizon}
}

// expired reports whether sh was closed before the trim horizon.
func (v shardView) expired(sh shards.Shard) bool {
	return !sh.IsOpen() && sh.Closed.Before(v.horizon)
}

// openAt reports whether sh was open at t: opened at or before it, and
// still open or closed at or after it.
func openAt(sh shards.Shard, t time.Time) bool {
	return !sh.Opened.After(t) && (sh.IsOpen() || !sh.Closed.Before(t))
}

// listed reports whether ListShards lists sh under filter f (nil:
// FROM_TRIM_HORIZON, the default). An expired shard is never listed.
//   - AFTER_SHARD_ID, FROM_TRIM_HORIZON: every shard (the former only
//     after its ShardId, which the caller skips to).
//   - AT_LATEST: the open shards.
//   - AT_TRIM_HORIZON: the shards open at the trim horizon.
//   - AT_TIMESTAMP: the shards open at Timestamp, brought up to the trim
//     horizon when before it (no shard is open before the stream was
//     created: a reader starting at an earlier time starts with the first
//     shards).
//   - FROM_TIMESTAMP: the open shards and those closed at or after
//     Timestamp, brought up to the trim horizon when before it.
func (v shardView) listed(sh shards.Shard, f *shardFilter) bool {
	if v.expired(sh) {
		return false
	}
	if f == nil {
		return true
	}
	at := f.Timestamp.Time
	if at.Before(v.horizon) {
		at = v.horizon
	}
	switch f.Type {
	case "AT_LATEST":
		return sh.IsOpen()
	case "AT_TRIM_HORIZON":
		return openAt(sh, v.horizon)
	case "AT_TIMESTAMP":
		return openAt(sh, at)
	case "FROM_TIMESTAMP":
		return sh.IsOpen() || !sh.Closed.Before(at)
	}
	return true
}

type shardFilter struct {
	Type      string    `json:"Type"`
	ShardID   string    `json:"ShardId,omitempty"`
	Timestamp epochTime `json:"Timestamp,omitempty"`
}

// check validates f as AWS does: Type from the enum, ShardId with
// AFTER_SHARD_ID, Timestamp with AT_TIMESTAMP and FROM_TIMESTAMP. A member
// a type does not use is ignored.
func (f *shardFilter) check() *apiError {
	switch f.Type {
	case "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST":
	case "AFTER_SHARD_ID":
		if f.ShardID == "" {
			return errInvalidArgument("ShardId must be supplied in a ShardFilter with a Type of AFTER_SHARD_ID.")
		}
	case "AT_TIMESTAMP", "FROM_TIMESTAMP":
		if f.Timestamp.IsZero() {
			return errInvalidArgument("Timestamp must be supplied in a ShardFilter with a Type of %s.", f.Type)
		}
	case "":
		return errValidation("%s", validationMessage(nil, "shardFilter.type", "Member must not be null"))
	default:
		return errValidation("%s", validationMessage(f.Type, "shardFilter.type",
			"Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"))
	}
	return nil
}

type listShardsRequest struct {
	streamRef
	NextToken             string       `json:"NextToken,omitempty"`
	ExclusiveStartShardID string       `json:"ExclusiveStartShardId,omitempty"`
	MaxResults            int          `json:"MaxResults,omitempty"`
	ShardFilter           *shardFilter `json:"ShardFilter,omitempty"`
}

type listShardsResponse struct {
	Shards    []shardDescription `json:"Shards"`
	NextToken string             `json:"NextToken,omitempty"`
}

// listShards lists a stream's shards in ID order, those its ShardFilter
// keeps, after ExclusiveStartShardId. A NextToken carries the stream, the
// filter and where the page ended, and is good for listShardsTokenTTL; a
// request with one names nothing else (a ShardFilter beside it is ignored:
// the token's is used).
// listShardsPage is the most shards one ListShards page holds.
const listShardsPage = 1000

func (s *Server) listShards(_ context.Context, c *call, req *listShardsRequest) (any, *apiError) {
	after, filter := req.ExclusiveStartShardID, req.ShardFilter
	if req.NextToken != "" {
		if req.StreamName != "" || req.StreamARN != "" {
			return nil, errInvalidArgument("NextToken and StreamName cannot be provided together.")
		}
		if req.ExclusiveStartShardID != "" {
			return nil, errInvalidArgument("NextToken and ExclusiveStartShardId cannot be provided together.")
		}
		tok, ok := decodeListShardsToken(req.NextToken)
		if !ok {
			return nil, errInvalidArgument("Invalid ShardIterator / NextToken: %q", req.NextToken)
		}
		if c.now.Sub(time.UnixMilli(tok.Issued)) > listShardsTokenTTL {
			return nil, newError(http.StatusBadRequest, "ExpiredNextTokenException",
				"The NextToken has expired: a token is good for %d seconds after ListShards returned it. List the shards again.", int(listShardsTokenTTL.Seconds()))
		}
		req.StreamName, after, filter = tok.Stream, tok.After, tok.Filter
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	// AWS: MaxResults is 1 to 10,000, the default 1,000, and a page holds
	// at most 1,000 shards whatever it asks for.
	limit := req.MaxResults
	if limit == 0 {
		limit = listShardsPage
	}
	if limit < 1 || limit > 10000 {
		return nil, errValidation("%s", validationMessage(req.MaxResults, "maxResults", "Member must have value between 1 and 10000"))
	}
	limit = min(limit, listShardsPage)
	if filter != nil {
		if aerr := filter.check(); aerr != nil {
			return nil, aerr
		}
		if filter.Type == "AFTER_SHARD_ID" && filter.ShardID > after {
			after = filter.ShardID
		}
	}
	view := newShardView(st, c.now)
	out := listShardsResponse{Shards: []shardDescription{}}
	for _, sh := range view.lin.Shards {
		id := shards.ShardID(sh.ID)
		if id <= after || !view.listed(sh, filter) {
			continue
		}
		if len(out.Shards) == limit {
			last := out.Shards[limit-1].ShardID
			out.NextToken = encodeListShardsToken(listShardsToken{Stream: st.Name, After: last, Filter: filter, Issued: c.now.UnixMilli()})
			break
		}
		out.Shards = append(out.Shards, describeShard(sh))
	}
	return out, nil
}

// listShardsToken is ListShards' NextToken.
type listShardsToken struct {
	Stream string       `json:"s"`
	After  string       `json:"a"` // the last shard listed
	Filter *shardFilter `json:"f,omitempty"`
	Issued int64        `json:"t"` // Unix milliseconds
}

func encodeListShardsToken(t listShardsToken) string {
	b, _ := json.Marshal(t) // strings, a number and a filter: never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeListShardsToken(s string) (listShardsToken, bool) {
	var t listShardsToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Stream == "" {
		return listShardsToken{}, false
	}
	return t, true
}
