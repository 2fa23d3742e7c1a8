package awsapi

import (
	"context"
	"math"
	"slices"
	"strings"
)

// limiter is a Catalog that bounds what may be open: streams and their
// open shards in all (storage.max_streams and storage.max_shards; 0: no
// bound). The catalog package's does.
type limiter interface {
	Limits() (maxStreams, maxShards int)
}

type describeLimitsResponse struct {
	ShardLimit               int `json:"ShardLimit"`
	OpenShardCount           int `json:"OpenShardCount"`
	OnDemandStreamCount      int `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int `json:"OnDemandStreamCountLimit"`
}

// describeLimits tells the server's own limits: ShardLimit is
// storage.max_shards and OpenShardCount the open shards of every shard log
// (DirectPut delivery streams' included), which CreateStream and
// UpdateShardCount count against it; OnDemandStreamCountLimit is
// storage.max_streams, which bounds streams of either mode. Without a
// bound, the limit reads as the largest the API can carry.
func (s *Server) describeLimits(_ context.Context, c *call, _ *struct{}) (any, *apiError) {
	maxStreams, maxShards := 0, 0
	if l, ok := s.catalog.(limiter); ok {
		maxStreams, maxShards = l.Limits()
	}
	_, open := s.store.Counts()
	onDemand := 0
	for _, st := range s.catalog.Streams() {
		if streamMode(st).StreamMode == modeOnDemand {
			onDemand++
		}
	}
	return describeLimitsResponse{ShardLimit: orUnbounded(maxShards), OpenShardCount: open,
		OnDemandStreamCount: onDemand, OnDemandStreamCountLimit: orUnbounded(maxStreams)}, nil
}

// orUnbounded is a limit as the API says it: 0 (none) as the largest
// int32.
func orUnbounded(limit int) int {
	if limit <= 0 || limit > math.MaxInt32 {
		return math.MaxInt32
	}
	return limit
}

// describeAccountSettings answers that the account has no minimum
// throughput billing commitment: Hydrant bills nothing.
func (s *Server) describeAccountSettings(context.Context, *call, *struct{}) (any, *apiError) {
	return map[string]map[string]string{"MinimumThroughputBillingCommitment": {"Status": "DISABLED"}}, nil
}

// shardMetrics are the shard-level metrics of enhanced monitoring, in the
// order they are reported; "ALL" names them all.
var shardMetrics = []string{"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
	"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"}

const allShardMetrics = "ALL"

type enhancedMonitoringRequest struct {
	streamRef
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type enhancedMonitoringResponse struct {
	StreamName               string   `json:"StreamName"`
	StreamARN                string   `json:"StreamARN"`
	CurrentShardLevelMetrics []string `json:"CurrentShardLevelMetrics"`
	DesiredShardLevelMetrics []string `json:"DesiredShardLevelMetrics"`
}

func (s *Server) enableEnhancedMonitoring(ctx context.Context, c *call, req *enhancedMonitoringRequest) (any, *apiError) {
	return s.changeMonitoring(ctx, c, req, true)
}

func (s *Server) disableEnhancedMonitoring(ctx context.Context, c *call, req *enhancedMonitoringRequest) (any, *apiError) {
	return s.changeMonitoring(ctx, c, req, false)
}

// changeMonitoring enables or disables shard-level metrics of a stream,
// and answers with those enabled before and after.
func (s *Server) changeMonitoring(ctx context.Context, c *call, req *enhancedMonitoringRequest, enable bool) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	asked, aerr := parseShardMetrics(req.ShardLevelMetrics)
	if aerr != nil {
		return nil, aerr
	}
	var current []string
	set, aerr := s.changeSettings(ctx, settingsKey(kindStream, st.Name), func(set *settings) *apiError {
		current = slices.Clone(set.Metrics)
		set.Metrics = metricsChange(set.Metrics, asked, enable)
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	return enhancedMonitoringResponse{StreamName: st.Name, StreamARN: s.arn("kinesis", c.region, "stream/"+st.Name),
		CurrentShardLevelMetrics: orEmpty(current), DesiredShardLevelMetrics: orEmpty(set.Metrics)}, nil
}

// parseShardMetrics validates a ShardLevelMetrics list (1 to 7 names of
// shardMetrics, or ALL) and returns the metrics it names.
func parseShardMetrics(names []string) (map[string]bool, *apiError) {
	if len(names) < 1 || len(names) > len(shardMetrics) {
		return nil, errValidation("1 validation error detected: Value at 'shardLevelMetrics' failed to satisfy constraint: Member must have length between 1 and %d", len(shardMetrics))
	}
	asked := map[string]bool{}
	for i, n := range names {
		switch {
		case n == allShardMetrics:
			for _, m := range shardMetrics {
				asked[m] = true
			}
		case slices.Contains(shardMetrics, n):
			asked[n] = true
		default:
			return nil, errValidation("%s", validationMessage(n, "shardLevelMetrics."+itoa(i+1)+".member",
				"Member must satisfy enum value set: ["+strings.Join(append(slices.Clone(shardMetrics), allShardMetrics), ", ")+"]"))
		}
	}
	return asked, nil
}

// metricsChange is the metrics enabled after enabling (or disabling) asked
// where current were, in shardMetrics' order; nil when none.
func metricsChange(current []string, asked map[string]bool, enable bool) []string {
	var out []string
	for _, m := range shardMetrics {
		if enable && (asked[m] || slices.Contains(current, m)) || !enable && !asked[m] && slices.Contains(current, m) {
			out = append(out, m)
		}
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// enhancedMonitoring is a stream's EnhancedMonitoring in its descriptions.
func enhancedMonitoring(set settings) []enhancedMetrics {
	return []enhancedMetrics{{ShardLevelMetrics: orEmpty(set.Metrics)}}
}
